/**
 * The validator's checks (spec/protocol.md §7), named as the reference validator names them, with
 * their consequence: `file` checks decide whether there is a file at all (failing one means the
 * validator treats the window as missing), `hard` checks ban on the first failure, `soft` checks
 * ban once their failures reach max(1, ceil(threshold · checked rollouts)).
 */
export type CheckSeverity = "file" | "hard" | "soft";

export interface CheckSpec {
  readonly id: CheckId;
  /** Where the check is specified. */
  readonly spec: string;
  readonly severity: CheckSeverity;
  /** Soft checks: the failure fraction that bans. */
  readonly threshold?: number;
  readonly what: string;
}

export const CHECKS = [
  { id: "file_found", spec: "§7.1.1", severity: "file", what: "window file exists at the §6.5 key" },
  { id: "file_size", spec: "§7.1.2", severity: "file", what: "200 B ≤ size ≤ 350 MiB" },
  { id: "upload_deadline", spec: "§7.1.3", severity: "file", what: "LastModified ≤ timestamp(W+30) − 4 s" },
  { id: "file_metadata", spec: "§6.4", severity: "file", what: "key/value metadata parses" },
  {
    id: "parquet_readable",
    spec: "§7.1.4–5",
    severity: "hard",
    what: "Parquet readable, no null rollout_group",
  },
  { id: "wallet_match", spec: "§7.2.6", severity: "hard", what: "metadata wallet is the file owner" },
  { id: "window_match", spec: "§7.2.7–8", severity: "hard", what: "metadata and rows name window W" },
  { id: "block_hash_match", spec: "§7.2.8", severity: "hard", what: "rows carry the hash of block W" },
  { id: "nonce_unique", spec: "§7.2.9", severity: "hard", what: "nonces unique in the file" },
  { id: "group_size", spec: "§7.2.10 G1", severity: "hard", what: "every group has exactly 16 rows" },
  {
    id: "checkpoint_window",
    spec: "§7.4 R1",
    severity: "hard",
    what: "checkpoint_window is the validator's",
  },
  {
    id: "challenge_signature",
    spec: "§7.4 R3",
    severity: "hard",
    what: "sr25519 signature over the challenge",
  },
  { id: "rollout_group_valid", spec: "§7.4 R4", severity: "hard", what: "rollout_group is an integer" },
  { id: "schema_valid", spec: "§7.4 P1", severity: "hard", what: "commit matches the schema" },
  { id: "tokens_valid", spec: "§7.4 P2", severity: "hard", what: "token ids in vocab, length ≤ model max" },
  {
    id: "env_prompt_valid",
    spec: "§7.4 P3",
    severity: "hard",
    what: "prompt = canonical prompt of the seed",
  },
  {
    id: "commit_signature",
    spec: "§7.4 P4 (§4.3)",
    severity: "hard",
    what: "sr25519 signature over the binding",
  },
  { id: "proof_valid", spec: "§7.4 P4", severity: "hard", what: "sketches at 32 challenged positions" },
  { id: "termination_valid", spec: "§7.4 P5", severity: "hard", what: "max length, or EOS with p ≥ 0.02" },
  { id: "env_eval_valid", spec: "§7.4 P6", severity: "hard", what: "environment evaluates the completion" },
  { id: "reward_valid", spec: "§7.4 P7", severity: "soft", threshold: 0.2, what: "reward matches the env's" },
  { id: "logprobs_valid", spec: "§7.4 P8", severity: "hard", what: "median IS deviation ≤ 0.10" },
  {
    id: "token_distribution_valid",
    spec: "§7.4 P9",
    severity: "soft",
    threshold: 0.51,
    what: "chosen-token probabilities look sampled",
  },
  { id: "advantage_sum", spec: "§7.5 G2", severity: "hard", what: "|Σ advantages| ≤ 0.01 per group" },
  { id: "advantage_match", spec: "§7.5 G3", severity: "hard", what: "advantages within 1e−3 of recomputed" },
] as const satisfies readonly {
  id: string;
  spec: string;
  severity: CheckSeverity;
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
