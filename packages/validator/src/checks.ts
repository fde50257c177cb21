import {
  CHALLENGE_K,
  COPYCAT_INTERVAL_THRESHOLD,
  COPYCAT_WINDOW_THRESHOLD,
  DEADLINE_SLACK_SECONDS,
  DISTRIBUTION_SOFT_THRESHOLD,
  GRPO_ADV_ELEMENT_TOLERANCE,
  GRPO_ADV_SUM_TOLERANCE,
  LOGPROB_IS_EPS,
  MAX_ROLLOUT_FILE_SIZE_BYTES,
  MIN_EOS_PROBABILITY,
  MIN_ROLLOUT_FILE_SIZE_BYTES,
  REWARD_ABS_TOL,
  REWARD_REL_TOL,
  REWARD_SOFT_THRESHOLD,
  ROLLOUTS_PER_PROBLEM,
  WINDOW_LENGTH,
} from "@grail/protocol";

/**
 * The validator's checks (spec/protocol.md §7) with their consequence: `file` checks decide
 * whether there is a file at all (failing one means the validator treats the window as missing),
 * `hard` checks ban on the first failure, `soft` checks ban once their failures reach
 * max(1, ceil(threshold · checked rollouts)).
 */
export type CheckSeverity = "file" | "hard" | "soft";

export interface CheckSpec {
  readonly id: CheckId;
  /** Where the check is specified. */
  readonly spec: string;
  readonly severity: CheckSeverity;
  /**
   * How the subnet's validator names the outcome when this check fails: its pipeline check as
   * `failure_reason` (`hard:proof_valid`, `soft:reward_valid`), its file rejection reason
   * (`file:wallet_mismatch`), or, where it records no reason, what it logs.
   */
  readonly validatorName: string;
  /** Soft checks: the failure fraction that bans. */
  readonly threshold?: number;
  readonly what: string;
}

const percent = (fraction: number) => `${+(fraction * 100).toFixed(2)} %`;

export const CHECKS = [
  {
    id: "file_found",
    spec: "§7.1.1",
    severity: "file",
    validatorName: "not found",
    what: "window file exists at the §6.5 key",
  },
  {
    id: "file_size",
    spec: "§7.1.2",
    severity: "file",
    validatorName: "not found (outside size limits)",
    what: `${MIN_ROLLOUT_FILE_SIZE_BYTES} B ≤ size ≤ ${MAX_ROLLOUT_FILE_SIZE_BYTES / 2 ** 20} MiB`,
  },
  {
    id: "upload_deadline",
    spec: "§7.1.3",
    severity: "file",
    validatorName: "not found (late upload)",
    what: `LastModified ≤ timestamp(W+${WINDOW_LENGTH}) − ${-DEADLINE_SLACK_SECONDS} s`,
  },
  {
    id: "file_metadata",
    spec: "§6.4",
    severity: "file",
    validatorName: "not found (download failed)",
    what: "key/value metadata parses",
  },
  {
    id: "parquet_readable",
    spec: "§7.1.4–5",
    severity: "hard",
    validatorName: "file:corrupt_parquet",
    what: "Parquet readable, no null rollout_group",
  },
  {
    id: "json_columns",
    spec: "§6.4",
    severity: "file",
    validatorName: "not found (download failed)",
    what: "commit.commitments and commit.beacon decode with Python's json.loads",
  },
  {
    id: "wallet_match",
    spec: "§7.2.6",
    severity: "hard",
    validatorName: "file:wallet_mismatch",
    what: "metadata wallet is the file owner",
  },
  {
    id: "window_match",
    spec: "§7.2.7–8",
    severity: "hard",
    validatorName: "file:window_mismatch / file:window_start_mismatch",
    what: "metadata and rows name window W",
  },
  {
    id: "block_hash_match",
    spec: "§7.2.8",
    severity: "hard",
    validatorName: "file:block_hash_mismatch",
    what: "rows carry the hash of block W",
  },
  {
    id: "nonce_unique",
    spec: "§7.2.9",
    severity: "hard",
    validatorName: "file:duplicate_nonce",
    what: "nonces unique in the file",
  },
  {
    id: "group_size",
    spec: "§7.2.10 G1",
    severity: "hard",
    validatorName: "file:invalid_group_size",
    what: `every group has exactly ${ROLLOUTS_PER_PROBLEM} rows`,
  },
  {
    id: "checkpoint_window",
    spec: "§7.4 R1",
    severity: "hard",
    validatorName: "hard (CHECKPOINT MISMATCH)",
    what: "checkpoint_window is the validator's",
  },
  {
    id: "challenge_signature",
    spec: "§7.4 R3",
    severity: "hard",
    validatorName: "hard (Invalid signature)",
    what: "sr25519 signature over the challenge",
  },
  {
    id: "rollout_group_valid",
    spec: "§7.4 R4",
    severity: "hard",
    validatorName: "hard (rollout_group missing or not an integer)",
    what: "rollout_group is an integer",
  },
  {
    id: "schema_valid",
    spec: "§7.4 P1",
    severity: "hard",
    validatorName: "hard:schema_valid",
    what: "commit matches the schema",
  },
  {
    id: "tokens_valid",
    spec: "§7.4 P2",
    severity: "hard",
    validatorName: "hard:tokens_valid",
    what: "token ids in vocab, length ≤ model max",
  },
  {
    id: "env_prompt_valid",
    spec: "§7.4 P3",
    severity: "hard",
    validatorName: "hard:env_prompt_valid",
    what: "prompt = canonical prompt of the seed",
  },
  {
    id: "commit_signature",
    spec: "§7.4 P4 (§4.3)",
    severity: "hard",
    validatorName: "hard:proof_valid",
    what: "sr25519 signature over the binding (part of the validator's proof check)",
  },
  {
    id: "proof_valid",
    spec: "§7.4 P4",
    severity: "hard",
    validatorName: "hard:proof_valid",
    what: `sketches at ${CHALLENGE_K} challenged positions`,
  },
  {
    id: "termination_valid",
    spec: "§7.4 P5",
    severity: "hard",
    validatorName: "hard:termination_valid",
    what: `max length, or EOS with p ≥ ${MIN_EOS_PROBABILITY}`,
  },
  {
    id: "env_eval_valid",
    spec: "§7.4 P6",
    severity: "hard",
    validatorName: "hard:env_eval_valid",
    what: "environment evaluates the completion",
  },
  {
    id: "reward_valid",
    spec: "§7.4 P7",
    severity: "soft",
    validatorName: "soft:reward_valid",
    threshold: REWARD_SOFT_THRESHOLD,
    what: `reward matches the env's (rel ${REWARD_REL_TOL}, abs ${REWARD_ABS_TOL})`,
  },
  {
    id: "logprobs_valid",
    spec: "§7.4 P8",
    severity: "hard",
    validatorName: "hard:logprobs_valid",
    what: `median IS deviation ≤ ${LOGPROB_IS_EPS.toFixed(2)}`,
  },
  {
    id: "token_distribution_valid",
    spec: "§7.4 P9",
    severity: "soft",
    validatorName: "soft:token_distribution_valid",
    threshold: DISTRIBUTION_SOFT_THRESHOLD,
    what: "chosen-token probabilities look sampled",
  },
  {
    id: "advantage_sum",
    spec: "§7.5 G2",
    severity: "hard",
    validatorName: "hard (GRPO group advantages don't sum to 0)",
    what: `|Σ advantages| ≤ ${GRPO_ADV_SUM_TOLERANCE} per group`,
  },
  {
    id: "advantage_match",
    spec: "§7.5 G3",
    severity: "hard",
    validatorName: "hard (GRPO group advantage mismatch)",
    what: `advantages within ${GRPO_ADV_ELEMENT_TOLERANCE} of recomputed`,
  },
  {
    id: "copycat",
    spec: "§7.6",
    severity: "hard",
    validatorName: "copycat (window or interval cheater)",
    what: `≤ ${percent(COPYCAT_WINDOW_THRESHOLD)} of completions shared with another miner (${percent(COPYCAT_INTERVAL_THRESHOLD)} over the interval)`,
  },
] as const satisfies readonly {
  id: string;
  spec: string;
  severity: CheckSeverity;
  validatorName: string;
  threshold?: number;
  what: string;
}[];

export type CheckId = (typeof CHECKS)[number]["id"];

export const CHECK_SPECS: ReadonlyMap<CheckId, CheckSpec> = new Map(
  CHECKS.map((c) => [c.id, c as CheckSpec]),
);

export interface CheckFailure {
  readonly message: string;
  /** Row index in the file. */
  readonly row?: number;
  readonly group?: number;
}

/** One line of the per-check table. */
export interface CheckOutcome {
  readonly id: CheckId;
  readonly spec: string;
  readonly severity: CheckSeverity;
  readonly validatorName: string;
  readonly threshold?: number;
  passed: number;
  failed: number;
  /** Subjects (file, rows, groups) the check could not be run on, with why. */
  notRun: number;
  failures: CheckFailure[];
  notes: string[];
  /** Soft checks: failures at which the window is banned. */
  banAt?: number;
  /** Whether this check alone fails the window. */
  fails: boolean;
}

/** Accumulates pass/fail per check and per subject (rows are counted once per check). */
export class CheckLedger {
  private readonly outcomes = new Map<CheckId, CheckOutcome>();
  private readonly failedSubjects = new Map<CheckId, Set<string>>();
  private readonly passedSubjects = new Map<CheckId, Set<string>>();

  constructor() {
    for (const c of CHECKS) {
      const spec = c as CheckSpec;
      this.outcomes.set(c.id, {
        id: c.id,
        spec: c.spec,
        severity: c.severity,
        validatorName: c.validatorName,
        ...(spec.threshold !== undefined ? { threshold: spec.threshold } : {}),
        passed: 0,
        failed: 0,
        notRun: 0,
        failures: [],
        notes: [],
        fails: false,
      });
      this.failedSubjects.set(c.id, new Set());
      this.passedSubjects.set(c.id, new Set());
    }
  }

  private outcome(id: CheckId): CheckOutcome {
    return this.outcomes.get(id)!;
  }

  /** A subject (e.g. `row:3`, `group:5`, `file`) passed `id`, unless it already failed it. */
  pass(id: CheckId, subject: string): void {
    if (this.failedSubjects.get(id)!.has(subject)) return;
    const passed = this.passedSubjects.get(id)!;
    if (passed.has(subject)) return;
    passed.add(subject);
    this.outcome(id).passed += 1;
  }

  fail(id: CheckId, subject: string, failure: CheckFailure): void {
    const o = this.outcome(id);
    const failed = this.failedSubjects.get(id)!;
    if (this.passedSubjects.get(id)!.delete(subject)) o.passed -= 1;
    if (!failed.has(subject)) {
      failed.add(subject);
      o.failed += 1;
    }
    o.failures.push(failure);
  }

  notRun(id: CheckId, subject: string, reason?: string): void {
    const o = this.outcome(id);
    o.notRun += 1;
    if (reason && !o.notes.includes(reason)) o.notes.push(reason);
    void subject;
  }

  note(id: CheckId, text: string): void {
    const o = this.outcome(id);
    if (!o.notes.includes(text)) o.notes.push(text);
  }

  hasFailed(id: CheckId, subject: string): boolean {
    return this.failedSubjects.get(id)!.has(subject);
  }

  /** Final outcomes; soft checks get their ban count from the number of rollouts checked. */
  finish(rolloutsChecked: number): CheckOutcome[] {
    const out: CheckOutcome[] = [];
    for (const o of this.outcomes.values()) {
      if (o.severity === "soft") {
        o.banAt = Math.max(1, Math.ceil((o.threshold ?? 0) * rolloutsChecked));
        o.fails = o.failed >= o.banAt;
      } else {
        o.fails = o.failed > 0;
      }
      out.push(o);
    }
    return out;
  }
}
