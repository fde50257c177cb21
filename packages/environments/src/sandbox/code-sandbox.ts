import { availableParallelism } from "node:os";
import { RetryFailure, retry } from "@grail/util";
import { EnvironmentError } from "../errors.js";
import type { TestOutcome } from "../rewards/types.js";
import type { IsolationReport } from "./worker-pool.js";
import { WorkerPool } from "./worker-pool.js";

/** The reference's per-job statuses, plus `base_exception` (see CodeRunResult.status). */
export type CodeRunStatus =
  | "all_passed"
  | "some_failed"
  | "timeout"
  | "error"
  | "syntax_error"
  | "process_error"
  | "base_exception";

export interface CodeRunResult {
  readonly passed: number;
  readonly total: number;
  /**
   * `base_exception`: a test raised a BaseException that is not an Exception. The reference lets it
   * escape its pool, so the validator's env step raises and env_eval_valid fails for the rollout.
   */
  readonly status: CodeRunStatus;
  readonly error: string | null;
  readonly testResults: readonly TestOutcome[];
  /**
   * How `compile(code)` fared in the validator's parser: "other" (e.g. RecursionError) sends the
   * reference down its catch-all path, which discards the extracted code.
   */
  readonly compile: "ok" | "syntax" | "other";
}

export interface CodeSandboxOptions {
  /** Worker processes (the reference miner uses 4); default min(4, available cores). */
  readonly workers?: number;
  /**
   * Jobs per worker before it is replaced; default 1000. The validator's pool recycles after 50
   * to bound what one job's code leaves behind for the next; here every job runs in a fresh child
   * and the worker never runs model-written code, so recycling only bounds the worker's own growth.
   */
  readonly maxJobsPerWorker?: number;
  /** Per-test alarm in seconds (int() truncates, as in the reference); default 5. */
  readonly testTimeoutSeconds?: number;
  /** Extra seconds on top of `timeout × tests` before a job is killed; the reference allows 30. */
  readonly jobSlackSeconds?: number;
  /** Attempts for jobs whose worker died (the reference retries process errors, 3 in all). */
  readonly attempts?: number;
  readonly memoryBytes?: number;
  readonly cpuSeconds?: number;
  readonly fileSizeBytes?: number;
  readonly network?: "auto" | "namespace" | "none";
  readonly seccomp?: boolean;
  /** The interpreter the workers run (the miner's GRAIL_PYTHON setting, >= 3.11). */
  readonly python: string;
}

/**
 * Runs model-written code against test cases with the validator's execution semantics, in a
 * supervised pool of hardened Python workers.
 */
export class CodeSandbox {
  readonly testTimeoutSeconds: number;
  private readonly pool: WorkerPool;
  private readonly slackSeconds: number;
  private readonly attempts: number;
  private startPromise: Promise<IsolationReport> | null = null;

  constructor(opts: CodeSandboxOptions) {
    this.testTimeoutSeconds = opts.testTimeoutSeconds ?? 5;
    this.slackSeconds = opts.jobSlackSeconds ?? 30;
    this.attempts = opts.attempts ?? 3;
    this.pool = new WorkerPool({
      mode: "code",
      size: opts.workers ?? Math.min(4, availableParallelism()),
      maxJobsPerWorker: opts.maxJobsPerWorker ?? 1000,
      limits: {
        memoryBytes: opts.memoryBytes ?? 2 * 1024 ** 3,
        cpuSeconds: opts.cpuSeconds ?? 300,
        fileSizeBytes: opts.fileSizeBytes ?? 16 * 1024 ** 2,
        openFiles: 256,
        seccomp: opts.seccomp ?? true,
      },
      network: opts.network ?? "auto",
      python: opts.python,
      startupTimeoutMs: 30_000,
    });
  }

  /** Starts the workers (idempotent); resolves with the isolation they report. */
  start(): Promise<IsolationReport> {
    this.startPromise ??= this.pool.start();
    return this.startPromise;
  }

  get isolation(): IsolationReport {
    return this.pool.isolation;
  }

  get workerPids(): number[] {
    return this.pool.workerPids;
  }

  /** `compile(code, "<string>", "exec")` in the sandbox's interpreter, without running anything. */
  async compile(code: string): Promise<CodeRunResult["compile"]> {
    const r = await this.execute(code, [], false);
    return r.compile;
  }

  /** `check_code_executes_fast(code, tests, timeout)` through the pool, retries included. */
  async run(code: string, tests: readonly string[]): Promise<CodeRunResult> {
    return this.execute(code, tests, true);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async execute(code: string, tests: readonly string[], run: boolean): Promise<CodeRunResult> {
    await this.start();
    const timeoutMs = (this.testTimeoutSeconds * tests.length + this.slackSeconds) * 1000;
    const job = { code, tests, timeout: this.testTimeoutSeconds, run };
    try {
      return await retry(
        async () => {
          const outcome = await this.pool.run(job, timeoutMs);
          // Code that hung its worker past every alarm: the reference reports timeout, not a retry.
          if (outcome.kind === "timeout")
            return failure(tests.length, "timeout", `Worker unresponsive: ${outcome.message}`);
          const result =
            outcome.kind === "died"
              ? failure(tests.length, "process_error", `Worker pool failure: ${outcome.message}`)
              : fromAnswer(outcome.answer, tests.length);
          if (result.status === "process_error") throw new ProcessErrorAttempt(result);
          return result;
        },
        { attempts: this.attempts, backoff: () => 0 },
      );
    } catch (err) {
      // Every attempt was a process error: the last one is the job's result.
      if (err instanceof RetryFailure && err.lastError instanceof ProcessErrorAttempt)
        return err.lastError.result;
      throw err;
    }
  }
}

/** An attempt that ended in a process error: the reference runs the job again. */
class ProcessErrorAttempt extends EnvironmentError {
  constructor(readonly result: CodeRunResult) {
    super(result.error ?? "process error", { status: result.status });
  }
}

function failure(total: number, status: CodeRunStatus, error: string): CodeRunResult {
  return { passed: 0, total, status, error, testResults: [], compile: "ok" };
}

const STATUSES = new Set<CodeRunStatus>([
  "all_passed",
  "some_failed",
  "timeout",
  "error",
  "syntax_error",
  "process_error",
  "base_exception",
]);

function fromAnswer(a: Record<string, unknown>, total: number): CodeRunResult {
  const status = STATUSES.has(a.status as CodeRunStatus) ? (a.status as CodeRunStatus) : "process_error";
  const raw = Array.isArray(a.test_results) ? (a.test_results as Record<string, unknown>[]) : [];
  return {
    passed: typeof a.passed === "number" ? a.passed : 0,
    total: typeof a.total === "number" ? a.total : total,
    status: a.status === "not_run" ? "all_passed" : status,
    error: typeof a.error === "string" ? a.error : null,
    testResults: raw.map((t) => ({
      testIndex: Number(t.test_idx),
      passed: t.passed === true,
      error: typeof t.error === "string" ? t.error : null,
    })),
    compile: a.compile === "syntax" || a.compile === "other" ? a.compile : "ok",
  };
}
