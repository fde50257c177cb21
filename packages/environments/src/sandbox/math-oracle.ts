import type { MathEquality, SymbolicJudge } from "../rewards/math.js";
import { resolvePythonRuntime } from "./python-runtime.js";
import { type IsolationReport, WorkerPool } from "./worker-pool.js";

export interface MathOracleOptions {
  /** Python helper processes; one is plenty (a call takes milliseconds). */
  readonly workers?: number;
  /** Seconds sympy may spend on one comparison before the answer counts as not equal. */
  readonly timeoutSeconds?: number;
  readonly memoryBytes?: number;
  /** The interpreter whose sympy judges (the miner's GRAIL_PYTHON setting). */
  readonly python: string;
  readonly network?: "auto" | "namespace" | "none";
}

/**
 * MATH strategies (b) sympy and (c) float() run by the same sympy the reference uses, in a
 * persistent hardened helper: `parse_expr` evaluates model text, so it never runs unconfined.
 */
export class MathOracle implements SymbolicJudge {
  private readonly pool: WorkerPool;
  private readonly timeoutSeconds: number;
  private startPromise: Promise<IsolationReport> | null = null;

  constructor(opts: MathOracleOptions) {
    this.timeoutSeconds = opts.timeoutSeconds ?? 10;
    this.pool = new WorkerPool({
      mode: "math",
      size: opts.workers ?? 1,
      maxJobsPerWorker: 10_000,
      limits: {
        memoryBytes: opts.memoryBytes ?? 4 * 1024 ** 3,
        cpuSeconds: 3600,
        fileSizeBytes: 0,
        openFiles: 256,
        seccomp: true,
      },
      network: opts.network ?? "auto",
      python: opts.python,
      startupTimeoutMs: 60_000,
    });
  }

  /** True when the interpreter has sympy; otherwise use `fallbackJudge`. */
  static available(python: string): boolean {
    try {
      return resolvePythonRuntime(python).hasSympy;
    } catch {
      return false;
    }
  }

  start(): Promise<IsolationReport> {
    this.startPromise ??= this.pool.start();
    return this.startPromise;
  }

  async judge(predNorm: string, goldNorm: string): Promise<MathEquality> {
    await this.start();
    const outcome = await this.pool.run(
      { pred: predNorm, gold: goldNorm, timeout: this.timeoutSeconds },
      (this.timeoutSeconds + 5) * 1000,
    );
    if (outcome.kind !== "answer") return { equal: false, strategy: "undecided" };
    const a = outcome.answer;
    if (a.equal === true && (a.strategy === "sympy" || a.strategy === "float")) {
      return { equal: true, strategy: a.strategy };
    }
    return { equal: false, strategy: a.strategy === "none" ? "none" : "undecided" };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
