import { createHash } from "node:crypto";
import { verifySignature } from "@grail/chain";
import { INSTRUCTED_CHAT_TEMPLATE } from "@grail/environments";
import type { EnvironmentFactory, MiningEnvironment, MiningTokenizer, WindowTask } from "@grail/pipeline";
import { windowTaskFromMetadata } from "@grail/pipeline";
import {
  CHALLENGE_K,
  challengeIndices,
  checkWindowRows,
  commitBinding,
  deriveEnvSeed,
  hexToBytes,
  MAX_NEW_TOKENS_PROTOCOL_CAP,
  MAX_ROLLOUT_FILE_SIZE_BYTES,
  MAX_SAMPLES_PER_MINER_THRESHOLD,
  MIN_ROLLOUT_FILE_SIZE_BYTES,
  PyRandom,
  parseCommitmentsJson,
  REWARD_ABS_TOL,
  REWARD_REL_TOL,
  type RolloutRecord,
  sketchDistance,
  sketchTolerance,
  utf8,
  type WindowCheckKind,
} from "@grail/protocol";
import { type CheckpointMetadata, readWindowFile } from "@grail/storage";
import { type CheckId, CheckLedger, type CheckOutcome } from "./checks.js";
import {
  distributionVerdict,
  EOS_THRESHOLD,
  isClose,
  logprobVerdict,
  sampledTokenProbability,
  softmaxProbability,
} from "./statistics.js";

/** The engine operations the validator recomputes with (a ProofModel from @grail/engine-native). */
export interface ValidatorModel {
  readonly info: { vocabSize: number; maxPositionEmbeddings: number };
  prove(
    batch: readonly { tokens: readonly number[]; promptLen: number }[],
    randomnessHex: string,
  ): Promise<{ sVals: Uint32Array; logprobs: Float32Array; eosProb: number }[]>;
  lastLogits(sequences: readonly (readonly number[])[]): Promise<Float32Array[]>;
}

export interface ValidatorTokenizer extends MiningTokenizer {
  readonly eosTokenId: number | null;
}

/** The trainer checkpoint the validator selected for the window, loaded. */
export interface LoadedCheckpoint {
  window: number;
  metadata: CheckpointMetadata;
  model: ValidatorModel;
  tokenizer: ValidatorTokenizer;
}

/** Which rollouts get the per-rollout checks. */
export type RolloutSelection =
  /** Every rollout (a miner must pass any sample, so this is the default). */
  | { kind: "all" }
  /** The validator's rule: files of ≤ 20 rows entirely, else up to `maxGroups` groups drawn from window_rand. */
  | { kind: "validator"; maxGroups?: number }
  /** These rollout_group values only (debugging one group). */
  | { kind: "groups"; groups: readonly number[] };

export interface WindowFileInput {
  bytes: Uint8Array;
  /** Object size as listed (the compressed size for a .gz object); default the byte count. */
  size?: number;
  /** S3 LastModified; null when unknown (a local file). */
  lastModified: Date | null;
  /** Where the bytes came from (for the report). */
  source: string;
}

export interface WindowValidationInput {
  /** SS58 hotkey that owns (uploaded) the file. */
  hotkey: string;
  window: number;
  /** `0x` hash of block `window`, as the validator reads it. */
  blockHash: string;
  /** window_rand (hex) seeding the challenged positions and the sample (§5.5). */
  challengeRandomness: string;
  /** Null: no object at the key. */
  file: WindowFileInput | null;
  /** Upload deadline in Unix seconds; null when it cannot be known (not checked). */
  deadlineSeconds: number | null;
  /** The validator's checkpoint for the window; null when it has none (the window is skipped). */
  loadCheckpoint: () => Promise<LoadedCheckpoint | null>;
  environments: EnvironmentFactory;
  selection?: RolloutSelection;
  /**
   * Which checked rollouts get P9, which needs one forward pass per completion position: every
   * one, the groups the validator's sampler draws (default), or none (reported as not run).
   */
  distribution?: DistributionScope;
  progress?: (message: string) => void;
}

export type DistributionScope = "all" | "sampled" | "off";

export type Verdict = "pass" | "fail" | "no_file" | "no_checkpoint";

export interface ValidationReport {
  hotkey: string;
  window: number;
  blockHash: string;
  challengeRandomness: string;
  checkpointWindow: number | null;
  source: string | null;
  verdict: Verdict;
  rows: number;
  groups: number;
  /** rollout_group values whose rows got the per-rollout checks. */
  checkedGroups: number[];
  rolloutsChecked: number;
  checks: CheckOutcome[];
  /** Hard failures and soft checks over their ban count, by check id. */
  failingChecks: CheckId[];
  durationMs: number;
}

const KIND_TO_CHECK: Record<WindowCheckKind, CheckId> = {
  metadata_invalid: "file_metadata",
  wallet_mismatch: "wallet_match",
  window_mismatch: "window_match",
  rollout_group_missing: "rollout_group_valid",
  block_hash_mismatch: "block_hash_match",
  checkpoint_mismatch: "checkpoint_window",
  duplicate_nonce: "nonce_unique",
  invalid_group_size: "group_size",
  schema_invalid: "schema_valid",
  tokens_invalid: "tokens_valid",
  proof_invalid: "proof_valid",
  termination_invalid: "termination_valid",
  logprobs_invalid: "logprobs_valid",
  advantage_sum: "advantage_sum",
  advantage_mismatch: "advantage_match",
};

/** Checks over every row that checkWindowRows reports, passed for rows it does not flag. */
const ROW_STRUCTURE_CHECKS: CheckId[] = [
  "window_match",
  "block_hash_match",
  "rollout_group_valid",
  "nonce_unique",
  "checkpoint_window",
  "schema_valid",
  "tokens_valid",
];

const MODEL_CHECKS: CheckId[] = [
  "env_prompt_valid",
  "commit_signature",
  "proof_valid",
  "termination_valid",
  "env_eval_valid",
  "reward_valid",
  "logprobs_valid",
  "token_distribution_valid",
];

const rowSubject = (i: number) => `row:${i}`;
const groupSubject = (g: number) => `group:${g}`;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The groups the validator's sampler would pick (§7.3): seeded from hotkey and window_rand. */
export function validatorSampleGroups(
  hotkey: string,
  challengeRandomness: string,
  groups: readonly number[],
  rows: number,
  maxGroups = 4,
): number[] {
  const sorted = [...groups].sort((a, b) => a - b);
  if (rows <= MAX_SAMPLES_PER_MINER_THRESHOLD) return sorted;
  const count = Math.max(1, Math.min(sorted.length, Math.floor(0.1 * sorted.length), maxGroups));
  const digest = createHash("sha256").update(`${hotkey}:${challengeRandomness}`).digest();
  const rng = PyRandom.fromInt(digest.readBigUInt64BE(0));
  return rng
    .sample(sorted.length, count)
    .map((i) => sorted[i]!)
    .sort((a, b) => a - b);
}

interface GroupContext {
  problem: unknown;
  promptIds: number[] | null;
  promptError: string | null;
}

/**
 * Runs every check of spec/protocol.md §7 that needs no other miner on one window file: the file's
 * discovery rules, its structure over all rows, and for the selected rollouts the signatures, the
 * prompt, the proofs recomputed with our engine at the challenged positions, termination,
 * logprobs, reward and the sampling distribution, then the GRPO group rules.
 */
export async function validateWindowFile(input: WindowValidationInput): Promise<ValidationReport> {
  const started = Date.now();
  const ledger = new CheckLedger();
  const progress = input.progress ?? (() => undefined);
  const report = (
    verdict: Verdict | null,
    extra: Partial<ValidationReport> & { rolloutsChecked?: number } = {},
  ): ValidationReport => {
    const checks = ledger.finish(extra.rolloutsChecked ?? 0);
    const failing = checks.filter((c) => c.fails);
    const computed: Verdict = failing.some((c) => c.severity === "file")
      ? "no_file"
      : failing.length > 0
        ? "fail"
        : "pass";
    return {
      hotkey: input.hotkey,
      window: input.window,
      blockHash: input.blockHash,
      challengeRandomness: input.challengeRandomness,
      checkpointWindow: null,
      source: input.file?.source ?? null,
      rows: 0,
      groups: 0,
      checkedGroups: [],
      rolloutsChecked: 0,
      ...extra,
      verdict: verdict ?? computed,
      checks,
      failingChecks: failing.map((c) => c.id),
      durationMs: Date.now() - started,
    };
  };

  // §7.1: discovery and download.
  if (!input.file) {
    ledger.fail("file_found", "file", { message: "no window file at the expected key" });
    return report(null);
  }
  ledger.pass("file_found", "file");
  const size = input.file.size ?? input.file.bytes.byteLength;
  if (size < MIN_ROLLOUT_FILE_SIZE_BYTES || size > MAX_ROLLOUT_FILE_SIZE_BYTES) {
    ledger.fail("file_size", "file", {
      message: `${size} bytes is outside [${MIN_ROLLOUT_FILE_SIZE_BYTES}, ${MAX_ROLLOUT_FILE_SIZE_BYTES}]`,
    });
  } else ledger.pass("file_size", "file");
  if (input.deadlineSeconds === null || input.file.lastModified === null) {
    ledger.notRun(
      "upload_deadline",
      "file",
      "no LastModified or no deadline (local file, or next window not reached)",
    );
  } else {
    const at = input.file.lastModified.getTime() / 1000;
    if (at > input.deadlineSeconds) {
      ledger.fail("upload_deadline", "file", {
        message: `uploaded at ${new Date(at * 1000).toISOString()}, ${(at - input.deadlineSeconds).toFixed(1)} s after the deadline`,
      });
    } else ledger.pass("upload_deadline", "file");
  }

  let rows: RolloutRecord[];
  let metadata: Record<string, string>;
  try {
    ({ rows, metadata } = await readWindowFile(input.file.bytes));
  } catch (err) {
    ledger.fail("parquet_readable", "file", { message: errorText(err) });
    return report(null);
  }
  ledger.pass("parquet_readable", "file");
  const groupsOf = new Map<number, number[]>();
  rows.forEach((r, i) => {
    const members = groupsOf.get(r.rollout_group) ?? [];
    members.push(i);
    groupsOf.set(r.rollout_group, members);
  });

  // The checkpoint the validator would select (§5.7); without one the window is skipped.
  progress("loading the checkpoint");
  let ckpt: LoadedCheckpoint | null;
  try {
    ckpt = await input.loadCheckpoint();
  } catch (err) {
    ckpt = null;
    ledger.note("checkpoint_window", `checkpoint could not be loaded: ${errorText(err)}`);
  }
  let task: WindowTask | null = null;
  if (ckpt) {
    try {
      task = windowTaskFromMetadata(ckpt.metadata);
    } catch (err) {
      ledger.note("checkpoint_window", `checkpoint ${ckpt.window} metadata is unusable: ${errorText(err)}`);
    }
  }

  // §7.2 and the model-free parts of §7.4/§7.5, over all rows.
  const structural = checkWindowRows(rows, metadata, {
    hotkey: input.hotkey,
    windowStart: input.window,
    blockHash: input.blockHash,
    ...(ckpt ? { checkpointWindow: ckpt.window } : {}),
    ...(task ? { maxTokens: task.policy.maxNewTokens } : {}),
    ...(ckpt
      ? { vocabSize: ckpt.model.info.vocabSize, maxSequenceLength: ckpt.model.info.maxPositionEmbeddings }
      : {}),
  });
  for (const f of structural) {
    const id = KIND_TO_CHECK[f.check];
    const subject =
      f.row !== undefined && f.check !== "advantage_mismatch"
        ? rowSubject(f.row)
        : f.group !== undefined
          ? groupSubject(f.group)
          : "file";
    ledger.fail(id, subject, {
      message: f.message,
      ...(f.row !== undefined ? { row: f.row } : {}),
      ...(f.group !== undefined ? { group: f.group } : {}),
    });
  }
  for (const id of ["wallet_match", "window_match", "file_metadata"] as CheckId[]) ledger.pass(id, "file");
  for (let i = 0; i < rows.length; i++) {
    for (const id of ROW_STRUCTURE_CHECKS) {
      if (id !== "checkpoint_window" || ckpt) ledger.pass(id, rowSubject(i));
    }
  }
  for (const g of groupsOf.keys()) {
    for (const id of ["group_size", "advantage_sum", "advantage_match"] as CheckId[])
      ledger.pass(id, groupSubject(g));
  }
  if (!ckpt) {
    for (const id of ["checkpoint_window", ...MODEL_CHECKS] as CheckId[]) {
      ledger.notRun(id, "file", "no READY checkpoint before the window: validators skip it");
    }
  }

  const base = { rows: rows.length, groups: groupsOf.size, checkpointWindow: ckpt?.window ?? null };
  if (ledger.finish(0).some((c) => c.fails && c.severity === "file")) return report(null, base);
  // Without a checkpoint validators skip the window; a file that is already broken still says so.
  if (!ckpt || !task) {
    return report(ledger.finish(0).some((c) => c.fails) ? null : "no_checkpoint", base);
  }

  // §7.3: which rollouts get the per-rollout checks.
  const selection = input.selection ?? { kind: "all" };
  const checkedGroups =
    selection.kind === "all"
      ? [...groupsOf.keys()].sort((a, b) => a - b)
      : selection.kind === "groups"
        ? [...new Set(selection.groups)].filter((g) => groupsOf.has(g)).sort((a, b) => a - b)
        : validatorSampleGroups(
            input.hotkey,
            input.challengeRandomness,
            [...groupsOf.keys()],
            rows.length,
            selection.maxGroups,
          );
  let rolloutsChecked = 0;
  for (const g of checkedGroups) rolloutsChecked += groupsOf.get(g)!.length;

  const scope = input.distribution ?? "sampled";
  const distributionGroups = new Set(
    scope === "all"
      ? checkedGroups
      : scope === "off"
        ? []
        : validatorSampleGroups(
            input.hotkey,
            input.challengeRandomness,
            [...groupsOf.keys()],
            rows.length,
          ).filter((g) => checkedGroups.includes(g)),
  );
  const env = input.environments(task.envId, task.envParams);
  let done = 0;
  for (const g of checkedGroups) {
    const members = groupsOf.get(g)!;
    progress(`group ${g}: ${members.length} rollouts (${done}/${rolloutsChecked} checked)`);
    try {
      await checkGroup({
        input,
        ledger,
        rows,
        members,
        group: g,
        ckpt,
        task,
        env,
        distribution: distributionGroups.has(g),
      });
    } catch (err) {
      // The reference counts a validator exception as a hard failure of the rollout.
      for (const i of members) {
        ledger.fail("proof_valid", rowSubject(i), { row: i, message: `validator error: ${errorText(err)}` });
      }
    }
    done += members.length;
  }
  return report(null, { ...base, checkedGroups, rolloutsChecked });
}

interface GroupCheckContext {
  input: WindowValidationInput;
  ledger: CheckLedger;
  rows: readonly RolloutRecord[];
  members: readonly number[];
  group: number;
  ckpt: LoadedCheckpoint;
  task: WindowTask;
  env: MiningEnvironment;
  /** Whether P9 runs on this group. */
  distribution: boolean;
}

async function canonicalPrompt(c: GroupCheckContext): Promise<GroupContext> {
  const { env, task, ckpt, input, group } = c;
  try {
    const problem = await env.problemForGroup(input.hotkey, input.blockHash, group);
    const spec = env.prompt(problem, task.thinkingMode);
    const text = ckpt.tokenizer.renderChat(spec.messages, {
      addGenerationPrompt: spec.addGenerationPrompt,
      ...(spec.chatTemplate === "protocol-chatml" ? { chatTemplate: INSTRUCTED_CHAT_TEMPLATE } : {}),
      ...(spec.enableThinking === undefined
        ? {}
        : { templateKwargs: { enable_thinking: spec.enableThinking } }),
    });
    return { problem, promptIds: await ckpt.tokenizer.encode(text), promptError: null };
  } catch (err) {
    return { problem: null, promptIds: null, promptError: errorText(err) };
  }
}

function sameIds(a: readonly number[], b: readonly number[], length: number): number {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The checks of §7.4 that need the model, for the rows of one group. */
async function checkGroup(c: GroupCheckContext): Promise<void> {
  const { ledger, rows, members, ckpt, task, input } = c;
  const ctx = await canonicalPrompt(c);
  // Rows whose structure failed cannot be fed to the model.
  const usable = members.filter(
    (i) =>
      !ledger.hasFailed("schema_valid", rowSubject(i)) && !ledger.hasFailed("tokens_valid", rowSubject(i)),
  );
  for (const i of members) {
    if (usable.includes(i)) continue;
    for (const id of MODEL_CHECKS) ledger.notRun(id, rowSubject(i), "row fails the schema or token checks");
  }
  for (const i of members) {
    const row = rows[i]!;
    const subject = rowSubject(i);
    // R3: the challenge signature, against the row's own hotkey field.
    const { challenge, hotkey, signature } = row;
    if (!challenge || !hotkey || !signature) {
      ledger.fail("challenge_signature", subject, {
        row: i,
        message: "challenge, hotkey and signature must be non-empty",
      });
    } else {
      let ok = false;
      try {
        ok = verifySignature(utf8(challenge), hexToBytes(signature), hotkey);
      } catch {
        ok = false;
      }
      if (ok) ledger.pass("challenge_signature", subject);
      else
        ledger.fail("challenge_signature", subject, {
          row: i,
          message: `signature does not verify for ${hotkey} over ${JSON.stringify(challenge)}`,
        });
    }
  }
  if (usable.length === 0) return;

  // P3: prompt tokens are the canonical prompt of the derived seed.
  for (const i of usable) {
    const row = rows[i]!;
    const subject = rowSubject(i);
    const { tokens } = row.commit;
    const { prompt_length: P, completion_length: C } = row.commit.rollout;
    if (!ctx.promptIds) {
      ledger.fail("env_prompt_valid", subject, {
        row: i,
        message: `canonical prompt could not be built: ${ctx.promptError}`,
      });
      continue;
    }
    const canon = ctx.promptIds;
    const seed = deriveEnvSeed(input.hotkey, input.blockHash, c.group);
    if (P !== canon.length) {
      ledger.fail("env_prompt_valid", subject, {
        row: i,
        message: `prompt_length ${P} but the canonical prompt of seed ${seed} has ${canon.length} tokens`,
      });
    } else if (P + C !== tokens.length) {
      ledger.fail("env_prompt_valid", subject, {
        row: i,
        message: `prompt_length + completion_length != ${tokens.length}`,
      });
    } else {
      const at = sameIds(tokens, canon, P);
      if (at >= 0) {
        ledger.fail("env_prompt_valid", subject, {
          row: i,
          message: `prompt token ${at} is ${tokens[at]}, the canonical prompt of seed ${seed} has ${canon[at]}`,
        });
      } else ledger.pass("env_prompt_valid", subject);
    }
  }

  // P4 + P8: one prefill over each sequence with the miner's beacon randomness.
  const proofs = new Map<number, Awaited<ReturnType<ValidatorModel["prove"]>>[number]>();
  const byRandomness = new Map<string, number[]>();
  for (const i of usable) {
    const beacon = beaconRandomness(rows[i]!);
    if (beacon === null) continue;
    const list = byRandomness.get(beacon) ?? [];
    list.push(i);
    byRandomness.set(beacon, list);
  }
  for (const [randomness, list] of byRandomness) {
    const provable = list.filter((i) => rows[i]!.commit.rollout.prompt_length >= 1);
    try {
      const out = await ckpt.model.prove(
        provable.map((i) => ({
          tokens: rows[i]!.commit.tokens,
          promptLen: rows[i]!.commit.rollout.prompt_length,
        })),
        randomness,
      );
      provable.forEach((i, k) => {
        proofs.set(i, out[k]!);
      });
    } catch (err) {
      for (const i of provable) {
        ledger.fail("proof_valid", rowSubject(i), {
          row: i,
          message: `validator forward pass failed: ${errorText(err)}`,
        });
      }
    }
  }

  const maxNew = Math.min(task.policy.maxNewTokens, MAX_NEW_TOKENS_PROTOCOL_CAP);
  const eos = ckpt.tokenizer.eosTokenId;
  for (const i of usable) {
    const row = rows[i]!;
    const subject = rowSubject(i);
    const { commit } = row;
    const { tokens } = commit;
    const { prompt_length: P, completion_length: C } = commit.rollout;
    const sketches = parseCommitmentsJson(commit.commitments);
    const randomness = beaconRandomness(row);

    // P4, signature part: the binding recomputed from the decoded commit, the file owner's key.
    if (randomness === null) {
      ledger.fail("commit_signature", subject, { row: i, message: "commit.beacon has no randomness" });
    } else {
      let ok = false;
      try {
        const binding = commitBinding({
          tokens,
          randomnessHex: randomness,
          modelName: commit.model.name,
          layerIndex: commit.model.layer_index,
          sketches,
        });
        ok = verifySignature(binding, hexToBytes(commit.signature), input.hotkey);
      } catch {
        ok = false;
      }
      if (ok) ledger.pass("commit_signature", subject);
      else {
        ledger.fail("commit_signature", subject, {
          row: i,
          message: `commit.signature does not verify for the file owner ${input.hotkey} over the recomputed binding`,
        });
      }
    }

    // P4 sketches and P8 logprobs at the challenged positions.
    const proof = proofs.get(i);
    const indices = C >= CHALLENGE_K ? challengeIndices(tokens, input.challengeRandomness, P, P + C) : [];
    if (!proof) {
      if (!ledger.hasFailed("proof_valid", subject))
        ledger.notRun("proof_valid", subject, "no usable beacon randomness or prompt");
      ledger.notRun("logprobs_valid", subject, "no proof recomputed");
    } else if (indices.length < CHALLENGE_K) {
      ledger.fail("proof_valid", subject, { row: i, message: `completion_length ${C} < ${CHALLENGE_K}` });
      ledger.fail("logprobs_valid", subject, { row: i, message: `completion_length ${C} < ${CHALLENGE_K}` });
    } else {
      const bad = indices.filter((p) => sketchDistance(proof.sVals[p]!, sketches[p]!) > sketchTolerance(p));
      if (bad.length > 0) {
        const p = bad[0]!;
        ledger.fail("proof_valid", subject, {
          row: i,
          message: `${bad.length}/${indices.length} challenged sketches off, e.g. position ${p}: validator ${proof.sVals[p]}, miner ${sketches[p]}, distance ${sketchDistance(proof.sVals[p]!, sketches[p]!)} > ${sketchTolerance(p)}`,
        });
      } else ledger.pass("proof_valid", subject);
      if (commit.rollout.token_logprobs.length === tokens.length) {
        const verdict = logprobVerdict(
          indices.map((p) => proof.logprobs[p - P]!),
          indices.map((p) => commit.rollout.token_logprobs[p]!),
        );
        if (verdict.ok) ledger.pass("logprobs_valid", subject);
        else ledger.fail("logprobs_valid", subject, { row: i, message: verdict.message });
      }
    }

    // P5: termination.
    if (C > maxNew) {
      // reported by the structural checks
    } else if (C === maxNew) {
      ledger.pass("termination_valid", subject);
    } else if (eos === null) {
      ledger.fail("termination_valid", subject, {
        row: i,
        message: "the checkpoint's tokenizer has no eos_token_id",
      });
    } else if (tokens[tokens.length - 1] !== eos) {
      ledger.fail("termination_valid", subject, {
        row: i,
        message: `completion has ${C} < ${maxNew} tokens and does not end with eos ${eos} (ends with ${tokens[tokens.length - 1]})`,
      });
    } else {
      try {
        const [logits] = await ckpt.model.lastLogits([tokens.slice(0, tokens.length - 1)]);
        const p = softmaxProbability(logits!, eos);
        if (p >= EOS_THRESHOLD) ledger.pass("termination_valid", subject);
        else
          ledger.fail("termination_valid", subject, {
            row: i,
            message: `P(eos) ${p.toPrecision(3)} < ${EOS_THRESHOLD}`,
          });
      } catch (err) {
        ledger.fail("termination_valid", subject, {
          row: i,
          message: `validator forward pass failed: ${errorText(err)}`,
        });
      }
    }

    // P6 + P7: the environment evaluates the decoded completion; the reward must match.
    if (ctx.problem === null) {
      ledger.fail("env_eval_valid", subject, {
        row: i,
        message: `no problem for the group: ${ctx.promptError}`,
      });
      ledger.notRun("reward_valid", subject, "environment did not evaluate");
    } else {
      try {
        const text = await ckpt.tokenizer.decode(tokens.slice(P, P + C), { skipSpecialTokens: false });
        const result = await c.env.score(ctx.problem, text, task.thinkingMode);
        if (result.validatorWouldRaise) {
          ledger.fail("env_eval_valid", subject, {
            row: i,
            message: "the validator's environment raises on this completion",
          });
          ledger.notRun("reward_valid", subject, "environment did not evaluate");
        } else {
          ledger.pass("env_eval_valid", subject);
          if (isClose(commit.rollout.total_reward, result.reward, REWARD_REL_TOL, REWARD_ABS_TOL)) {
            ledger.pass("reward_valid", subject);
          } else {
            ledger.fail("reward_valid", subject, {
              row: i,
              message: `total_reward ${commit.rollout.total_reward}, the environment gives ${result.reward}`,
            });
          }
        }
      } catch (err) {
        ledger.fail("env_eval_valid", subject, { row: i, message: `environment raised: ${errorText(err)}` });
        ledger.notRun("reward_valid", subject, "environment did not evaluate");
      }
    }

    // P9: the sampling distribution over every completion position.
    if (!c.distribution) {
      ledger.notRun(
        "token_distribution_valid",
        subject,
        input.distribution === "off" ? "disabled" : "outside the groups the validator's sampler draws",
      );
    } else {
      try {
        const probs = await chosenTokenProbabilities(ckpt.model, tokens, P, task);
        const verdict = distributionVerdict(probs);
        if (verdict.ok) ledger.pass("token_distribution_valid", subject);
        else ledger.fail("token_distribution_valid", subject, { row: i, message: verdict.message });
      } catch (err) {
        ledger.fail("token_distribution_valid", subject, {
          row: i,
          message: `validator forward pass failed: ${errorText(err)}`,
        });
      }
    }
  }
  ledger.note(
    "token_distribution_valid",
    "per-position logits come from one prefix forward per completion token (the engine has no per-position logits call)",
  );
}

function beaconRandomness(row: RolloutRecord): string | null {
  try {
    const beacon = JSON.parse(row.commit.beacon) as { randomness?: unknown };
    return typeof beacon.randomness === "string" && /^[0-9a-fA-F]+$/.test(beacon.randomness)
      ? beacon.randomness
      : null;
  } catch {
    return null;
  }
}

const PREFIX_BATCH = 32;

/**
 * P9's probabilities: for every completion position t, the logits after tokens[:t] (the last
 * logits of that prefix), with the checkpoint's repetition penalty over tokens[:t] and temperature.
 */
async function chosenTokenProbabilities(
  model: ValidatorModel,
  tokens: readonly number[],
  promptLength: number,
  task: WindowTask,
): Promise<number[]> {
  const probs: number[] = [];
  const context = new Set<number>(tokens.slice(0, promptLength));
  for (let start = promptLength; start < tokens.length; start += PREFIX_BATCH) {
    const end = Math.min(tokens.length, start + PREFIX_BATCH);
    const prefixes: number[][] = [];
    for (let t = start; t < end; t++) prefixes.push(tokens.slice(0, t));
    const logits = await model.lastLogits(prefixes);
    for (let t = start; t < end; t++) {
      probs.push(
        sampledTokenProbability(
          logits[t - start]!,
          tokens[t]!,
          context,
          task.policy.repetitionPenalty ?? 1.0,
          task.policy.temperature,
        ),
      );
      context.add(tokens[t]!);
    }
  }
  return probs;
}
