import { verifySignature } from "@grail/chain";
import type { MiningEnvironment, WindowTask } from "@grail/pipeline";
import {
  CHALLENGE_K,
  challengeIndices,
  commitBinding,
  deriveEnvSeed,
  hexToBytes,
  MAX_NEW_TOKENS_PROTOCOL_CAP,
  parseCommitmentsJson,
  REWARD_ABS_TOL,
  REWARD_REL_TOL,
  type RolloutRecord,
  sketchDistance,
  sketchTolerance,
  utf8,
} from "@grail/protocol";
import { errorMessage } from "@grail/storage";
import type { CheckId, CheckLedger } from "./checks.js";
import type { LoadedCheckpoint, WindowValidationInput } from "./input.js";
import {
  beaconRandomness,
  canonicalPrompt,
  chosenTokenProbabilities,
  type GroupPrompt,
  type Proof,
  recomputeProofs,
} from "./recompute.js";
import {
  distributionVerdict,
  EOS_THRESHOLD,
  isClose,
  logprobVerdict,
  softmaxProbability,
} from "./statistics.js";
import { rowSubject } from "./window-file.js";

/** The per-rollout checks of §7.4 that need the checkpoint's model. */
export const MODEL_CHECKS: CheckId[] = [
  "env_prompt_valid",
  "commit_signature",
  "proof_valid",
  "termination_valid",
  "env_eval_valid",
  "reward_valid",
  "logprobs_valid",
  "token_distribution_valid",
];

export interface GroupCheckContext {
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

/** The per-rollout checks of §7.4 for the rows of one group, one function per check below. */
export async function checkGroup(c: GroupCheckContext): Promise<void> {
  const { ledger, rows, members, ckpt, task, input } = c;
  const prompt = await canonicalPrompt(c.env, task, ckpt, {
    hotkey: input.hotkey,
    blockHash: input.blockHash,
    group: c.group,
  });
  // Rows whose structure failed cannot be fed to the model.
  const usable = members.filter(
    (i) =>
      !ledger.hasFailed("schema_valid", rowSubject(i)) && !ledger.hasFailed("tokens_valid", rowSubject(i)),
  );
  for (const i of members) {
    if (usable.includes(i)) continue;
    for (const id of MODEL_CHECKS) ledger.notRun(id, rowSubject(i), "row fails the schema or token checks");
  }
  for (const i of members) challengeSignatureValid(c, i);
  if (usable.length === 0) return;

  for (const i of usable) envPromptValid(c, i, prompt);
  const proofs = await recomputeProofs(ckpt.model, rows, usable, ledger);
  const maxNew = Math.min(task.policy.maxNewTokens, MAX_NEW_TOKENS_PROTOCOL_CAP);
  for (const i of usable) {
    const { commit } = rows[i]!;
    const { prompt_length: P, completion_length: C } = commit.rollout;
    const sketches = parseCommitmentsJson(commit.commitments);
    commitSignatureValid(c, i, sketches);
    const indices =
      C >= CHALLENGE_K ? challengeIndices(commit.tokens, input.challengeRandomness, P, P + C) : [];
    const proof = proofs.get(i);
    proofValid(c, i, proof, indices, sketches);
    logprobsValid(c, i, proof, indices);
    await terminationValid(c, i, maxNew);
    rewardValid(c, i, await envEvalValid(c, i, prompt));
    await tokenDistributionValid(c, i);
  }
  ledger.note(
    "token_distribution_valid",
    "per-position logits come from one prefix forward per completion token (the engine has no per-position logits call)",
  );
}

/** R3: the challenge signature, against the row's own hotkey field. */
function challengeSignatureValid(c: GroupCheckContext, i: number): void {
  const subject = rowSubject(i);
  const { challenge, hotkey, signature } = c.rows[i]!;
  if (!challenge || !hotkey || !signature) {
    c.ledger.fail("challenge_signature", subject, {
      row: i,
      message: "challenge, hotkey and signature must be non-empty",
    });
    return;
  }
  let ok = false;
  try {
    ok = verifySignature(utf8(challenge), hexToBytes(signature), hotkey);
  } catch {
    ok = false;
  }
  if (ok) c.ledger.pass("challenge_signature", subject);
  else
    c.ledger.fail("challenge_signature", subject, {
      row: i,
      message: `signature does not verify for ${hotkey} over ${JSON.stringify(challenge)}`,
    });
}

function sameIds(a: readonly number[], b: readonly number[], length: number): number {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** P3: prompt tokens are the canonical prompt of the derived seed. */
function envPromptValid(c: GroupCheckContext, i: number, prompt: GroupPrompt): void {
  const subject = rowSubject(i);
  const { tokens } = c.rows[i]!.commit;
  const { prompt_length: P, completion_length: C } = c.rows[i]!.commit.rollout;
  if (!prompt.promptIds) {
    c.ledger.fail("env_prompt_valid", subject, {
      row: i,
      message: `canonical prompt could not be built: ${prompt.promptError}`,
    });
    return;
  }
  const canon = prompt.promptIds;
  const seed = deriveEnvSeed(c.input.hotkey, c.input.blockHash, c.group);
  if (P !== canon.length) {
    c.ledger.fail("env_prompt_valid", subject, {
      row: i,
      message: `prompt_length ${P} but the canonical prompt of seed ${seed} has ${canon.length} tokens`,
    });
  } else if (P + C !== tokens.length) {
    c.ledger.fail("env_prompt_valid", subject, {
      row: i,
      message: `prompt_length + completion_length != ${tokens.length}`,
    });
  } else {
    const at = sameIds(tokens, canon, P);
    if (at >= 0) {
      c.ledger.fail("env_prompt_valid", subject, {
        row: i,
        message: `prompt token ${at} is ${tokens[at]}, the canonical prompt of seed ${seed} has ${canon[at]}`,
      });
    } else c.ledger.pass("env_prompt_valid", subject);
  }
}

/**
 * P4, signature part (§4.3; reported as commit_signature): the binding recomputed from the
 * decoded commit, under the file owner's key.
 */
function commitSignatureValid(c: GroupCheckContext, i: number, sketches: readonly number[]): void {
  const row = c.rows[i]!;
  const { commit } = row;
  const subject = rowSubject(i);
  const randomness = beaconRandomness(row);
  if (randomness === null) {
    c.ledger.fail("commit_signature", subject, { row: i, message: "commit.beacon has no randomness" });
    return;
  }
  let ok = false;
  try {
    const binding = commitBinding({
      tokens: commit.tokens,
      randomnessHex: randomness,
      modelName: commit.model.name,
      layerIndex: commit.model.layer_index,
      sketches,
    });
    ok = verifySignature(binding, hexToBytes(commit.signature), c.input.hotkey);
  } catch {
    ok = false;
  }
  if (ok) c.ledger.pass("commit_signature", subject);
  else {
    c.ledger.fail("commit_signature", subject, {
      row: i,
      message: `commit.signature does not verify for the file owner ${c.input.hotkey} over the recomputed binding`,
    });
  }
}

/** P4: the sketches at the challenged positions against the recomputed ones. */
function proofValid(
  c: GroupCheckContext,
  i: number,
  proof: Proof | undefined,
  indices: readonly number[],
  sketches: readonly number[],
): void {
  const subject = rowSubject(i);
  const C = c.rows[i]!.commit.rollout.completion_length;
  if (!proof) {
    if (!c.ledger.hasFailed("proof_valid", subject))
      c.ledger.notRun("proof_valid", subject, "no usable beacon randomness or prompt");
    return;
  }
  if (indices.length < CHALLENGE_K) {
    c.ledger.fail("proof_valid", subject, { row: i, message: `completion_length ${C} < ${CHALLENGE_K}` });
    return;
  }
  const bad = indices.filter((p) => sketchDistance(proof.sVals[p]!, sketches[p]!) > sketchTolerance(p));
  if (bad.length > 0) {
    const p = bad[0]!;
    c.ledger.fail("proof_valid", subject, {
      row: i,
      message: `${bad.length}/${indices.length} challenged sketches off, e.g. position ${p}: validator ${proof.sVals[p]}, miner ${sketches[p]}, distance ${sketchDistance(proof.sVals[p]!, sketches[p]!)} > ${sketchTolerance(p)}`,
    });
  } else c.ledger.pass("proof_valid", subject);
}

/** P8: the miner's logprobs at the challenged positions against the recomputed ones. */
function logprobsValid(
  c: GroupCheckContext,
  i: number,
  proof: Proof | undefined,
  indices: readonly number[],
): void {
  const subject = rowSubject(i);
  const { commit } = c.rows[i]!;
  const { prompt_length: P, completion_length: C } = commit.rollout;
  if (!proof) {
    c.ledger.notRun("logprobs_valid", subject, "no proof recomputed");
    return;
  }
  if (indices.length < CHALLENGE_K) {
    c.ledger.fail("logprobs_valid", subject, { row: i, message: `completion_length ${C} < ${CHALLENGE_K}` });
    return;
  }
  // A length mismatch is reported by the structural checks.
  if (commit.rollout.token_logprobs.length !== commit.tokens.length) return;
  const verdict = logprobVerdict(
    indices.map((p) => proof.logprobs[p - P]!),
    indices.map((p) => commit.rollout.token_logprobs[p]!),
  );
  if (verdict.ok) c.ledger.pass("logprobs_valid", subject);
  else c.ledger.fail("logprobs_valid", subject, { row: i, message: verdict.message });
}

/** P5: the completion hits max_tokens, or ends with EOS sampled with enough probability. */
async function terminationValid(c: GroupCheckContext, i: number, maxNew: number): Promise<void> {
  const subject = rowSubject(i);
  const { tokens } = c.rows[i]!.commit;
  const C = c.rows[i]!.commit.rollout.completion_length;
  const eos = c.ckpt.tokenizer.eosTokenId;
  // Longer than max_tokens is reported by the structural checks.
  if (C > maxNew) return;
  if (C === maxNew) {
    c.ledger.pass("termination_valid", subject);
  } else if (eos === null) {
    c.ledger.fail("termination_valid", subject, {
      row: i,
      message: "the checkpoint's tokenizer has no eos_token_id",
    });
  } else if (tokens[tokens.length - 1] !== eos) {
    c.ledger.fail("termination_valid", subject, {
      row: i,
      message: `completion has ${C} < ${maxNew} tokens and does not end with eos ${eos} (ends with ${tokens[tokens.length - 1]})`,
    });
  } else {
    try {
      const [logits] = await c.ckpt.model.lastLogits([tokens.slice(0, tokens.length - 1)]);
      const p = softmaxProbability(logits!, eos);
      if (p >= EOS_THRESHOLD) c.ledger.pass("termination_valid", subject);
      else
        c.ledger.fail("termination_valid", subject, {
          row: i,
          message: `P(eos) ${p.toPrecision(3)} < ${EOS_THRESHOLD}`,
        });
    } catch (err) {
      c.ledger.fail("termination_valid", subject, {
        row: i,
        message: `validator forward pass failed: ${errorMessage(err)}`,
      });
    }
  }
}

/** P6: the environment evaluates the decoded completion; returns its reward, null when it did not. */
async function envEvalValid(c: GroupCheckContext, i: number, prompt: GroupPrompt): Promise<number | null> {
  const subject = rowSubject(i);
  const { tokens } = c.rows[i]!.commit;
  const { prompt_length: P, completion_length: C } = c.rows[i]!.commit.rollout;
  if (prompt.problem === null) {
    c.ledger.fail("env_eval_valid", subject, {
      row: i,
      message: `no problem for the group: ${prompt.promptError}`,
    });
    return null;
  }
  try {
    const text = await c.ckpt.tokenizer.decode(tokens.slice(P, P + C), { skipSpecialTokens: false });
    const result = await c.env.score(prompt.problem, text, c.task.thinkingMode);
    if (result.validatorWouldRaise) {
      c.ledger.fail("env_eval_valid", subject, {
        row: i,
        message: "the validator's environment raises on this completion",
      });
      return null;
    }
    c.ledger.pass("env_eval_valid", subject);
    return result.reward;
  } catch (err) {
    c.ledger.fail("env_eval_valid", subject, { row: i, message: `environment raised: ${errorMessage(err)}` });
    return null;
  }
}

/** P7: total_reward matches the environment's reward (math.isclose). */
function rewardValid(c: GroupCheckContext, i: number, envReward: number | null): void {
  const subject = rowSubject(i);
  if (envReward === null) {
    c.ledger.notRun("reward_valid", subject, "environment did not evaluate");
    return;
  }
  const reward = c.rows[i]!.commit.rollout.total_reward;
  if (isClose(reward, envReward, REWARD_REL_TOL, REWARD_ABS_TOL)) {
    c.ledger.pass("reward_valid", subject);
  } else {
    c.ledger.fail("reward_valid", subject, {
      row: i,
      message: `total_reward ${reward}, the environment gives ${envReward}`,
    });
  }
}

/** P9: the chosen-token probabilities over every completion position look sampled. */
async function tokenDistributionValid(c: GroupCheckContext, i: number): Promise<void> {
  const subject = rowSubject(i);
  if (!c.distribution) {
    c.ledger.notRun(
      "token_distribution_valid",
      subject,
      c.input.distribution === "off" ? "disabled" : "outside the groups the validator's sampler draws",
    );
    return;
  }
  const { commit } = c.rows[i]!;
  try {
    const probs = await chosenTokenProbabilities(
      c.ckpt.model,
      commit.tokens,
      commit.rollout.prompt_length,
      c.task,
    );
    const verdict = distributionVerdict(probs);
    if (verdict.ok) c.ledger.pass("token_distribution_valid", subject);
    else c.ledger.fail("token_distribution_valid", subject, { row: i, message: verdict.message });
  } catch (err) {
    c.ledger.fail("token_distribution_valid", subject, {
      row: i,
      message: `validator forward pass failed: ${errorMessage(err)}`,
    });
  }
}
