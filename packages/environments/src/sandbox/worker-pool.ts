import { SandboxClosedError, SandboxUnavailableError } from "../errors.js";
import { type NetworkIsolation, networkNamespacePrefix, resolvePythonRuntime } from "./python-runtime.js";
import {
  type WorkerLimits,
  type WorkerMode,
  WorkerProcess,
  type WorkerReady,
  WorkerTimeoutError,
} from "./worker-process.js";

export interface WorkerPoolOptions {
  readonly mode: WorkerMode;
  readonly size: number;
  /** Jobs a worker serves before it is replaced. */
  readonly maxJobsPerWorker: number;
  readonly limits: WorkerLimits;
  /** "auto": a network namespace when the machine allows one, else none. */
  readonly network: "auto" | NetworkIsolation;
  /** The interpreter (GRAIL_PYTHON setting); resolved once to the real binary. */
  readonly python: string;
  readonly startupTimeoutMs: number;
}

/** What isolation the running workers actually have, for logs and health output. */
export interface IsolationReport {
  readonly python: string;
  readonly network: NetworkIsolation;
  readonly seccomp: boolean;
  readonly seccompProblem?: string;
  readonly rlimits: readonly string[];
  readonly auditHook: boolean;
  /** The uid model-written code runs as: SANDBOX_UID when the miner runs as root. */
  readonly userCodeUid: number;
  /** Why model-written code runs as the miner's own uid, where it does. */
  readonly privilegeProblem?: string;
}

/** nobody: the uid model-written code switches to when the miner runs as root. */
export const SANDBOX_UID = 65534;

let warnedAboutPrivileges = false;

export type JobOutcome =
  | { readonly kind: "answer"; readonly answer: Record<string, unknown> }
  | { readonly kind: "timeout"; readonly message: string }
  | { readonly kind: "died"; readonly message: string };

interface QueuedJob {
  readonly job: Record<string, unknown>;
  readonly timeoutMs: number;
  readonly resolve: (outcome: JobOutcome) => void;
}

/** Failures in a row while (re)starting workers before the pool gives up. */
const MAX_START_FAILURES = 5;

/**
 * A supervised set of sandbox workers: FIFO dispatch to idle workers, replacement of workers that
 * die, overrun their deadline or reach the reuse limit. Jobs never reject; they resolve with an
 * outcome the caller maps onto the reference's statuses.
 */
export class WorkerPool {
  private readonly workers = new Set<WorkerProcess>();
  private readonly idle: WorkerProcess[] = [];
  private readonly queue: QueuedJob[] = [];
  private readonly prefix: readonly string[];
  private readonly python: string;
  private closed = false;
  private startFailures = 0;
  private lastStartError: Error | null = null;
  private isolationReport: IsolationReport | null = null;
  private readonly starting = new Set<Promise<void>>();

  constructor(private readonly opts: WorkerPoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1)
      throw new RangeError("pool size must be a positive integer");
    this.python = resolvePythonRuntime(opts.python).executable;
    const ns = opts.network === "none" ? null : networkNamespacePrefix();
    if (opts.network === "namespace" && ns === null) {
      throw new SandboxUnavailableError("a network namespace was required but unshare is not permitted here");
    }
    this.prefix = ns ?? [];
  }

  /** Starts every worker and waits until all have hardened themselves. */
  async start(): Promise<IsolationReport> {
    const starts = [];
    for (let i = this.workers.size; i < this.opts.size; i++) starts.push(this.spawnWorker());
    await Promise.all(starts);
    if (this.workers.size === 0) {
      throw new SandboxUnavailableError(this.lastStartError?.message ?? "no worker started");
    }
    return this.isolation;
  }

  get isolation(): IsolationReport {
    if (!this.isolationReport) throw new Error("pool not started");
    return this.isolationReport;
  }

  get liveWorkers(): number {
    return this.workers.size;
  }

  /** Process ids of the current workers (for health output and tests). */
  get workerPids(): number[] {
    return [...this.workers].map((w) => w.pid).filter((p): p is number => p !== undefined);
  }

  run(job: Record<string, unknown>, timeoutMs: number): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new SandboxClosedError("sandbox pool"));
    return new Promise((resolve) => {
      this.queue.push({ job, timeoutMs, resolve });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.starting]);
    for (const q of this.queue.splice(0)) q.resolve({ kind: "died", message: "pool closed" });
    const exits = [...this.workers].map((w) => {
      w.kill();
      return w.exitedPromise;
    });
    this.workers.clear();
    this.idle.length = 0;
    await Promise.all(exits);
  }

  private spawnWorker(): Promise<void> {
    const worker = new WorkerProcess({
      mode: this.opts.mode,
      python: this.python,
      limits: this.opts.limits,
      sandboxUid: process.getuid?.() === 0 ? SANDBOX_UID : null,
      prefix: this.prefix,
      startupTimeoutMs: this.opts.startupTimeoutMs,
    });
    this.workers.add(worker);
    const started = worker.ready.then(
      (ready) => {
        this.starting.delete(started);
        if (this.closed) {
          worker.kill();
          return;
        }
        this.startFailures = 0;
        this.recordIsolation(ready);
        worker.exitedPromise.then(() => this.onWorkerExit(worker));
        this.idle.push(worker);
        this.dispatch();
      },
      (e: Error) => {
        this.starting.delete(started);
        this.workers.delete(worker);
        worker.kill();
        this.lastStartError = e;
        this.startFailures++;
        if (this.startFailures >= MAX_START_FAILURES && this.workers.size === 0) {
          // Nothing can run: fail what waits instead of spinning.
          for (const q of this.queue.splice(0))
            q.resolve({ kind: "died", message: `no worker can start: ${e.message}` });
          return;
        }
        if (!this.closed) this.replenish();
      },
    );
    this.starting.add(started);
    return started;
  }

  private recordIsolation(ready: WorkerReady): void {
    this.isolationReport = {
      python: ready.python,
      network: this.prefix.length > 0 ? "namespace" : "none",
      seccomp: ready.layers.seccomp,
      ...(ready.layers.seccomp_problem ? { seccompProblem: ready.layers.seccomp_problem } : {}),
      rlimits: ready.layers.rlimits,
      auditHook: ready.layers.audit_hook,
      userCodeUid: ready.layers.uid,
      ...(ready.layers.privilege_problem ? { privilegeProblem: ready.layers.privilege_problem } : {}),
    };
    if (ready.layers.privilege_problem && !warnedAboutPrivileges) {
      warnedAboutPrivileges = true;
      process.emitWarning(
        `sandbox: model-written code runs as uid ${ready.layers.uid} (${ready.layers.privilege_problem}); ` +
          "the audit hook and seccomp filter still confine it, but file permissions do not separate it from the miner's files",
        { code: "GRAIL_SANDBOX_UID" },
      );
    }
  }

  private onWorkerExit(worker: WorkerProcess): void {
    if (!this.workers.delete(worker)) return;
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    if (!this.closed) this.replenish();
  }

  private replenish(): void {
    const missing = this.opts.size - this.workers.size;
    for (let i = 0; i < missing; i++) void this.spawnWorker();
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const worker = this.idle.shift() as WorkerProcess;
      if (!worker.alive) continue;
      const item = this.queue.shift() as QueuedJob;
      worker.request(item.job, item.timeoutMs).then(
        (answer) => {
          item.resolve({ kind: "answer", answer });
          this.release(worker);
        },
        (e: Error) => {
          item.resolve(
            e instanceof WorkerTimeoutError
              ? { kind: "timeout", message: e.message }
              : { kind: "died", message: e.message },
          );
          // The worker was killed or died; its exit handler spawns the replacement.
        },
      );
    }
  }

  private release(worker: WorkerProcess): void {
    if (this.closed) return;
    if (worker.jobsDone >= this.opts.maxJobsPerWorker) {
      // Recycle like the reference does; the exit handler starts the successor.
      void worker.retire();
      return;
    }
    this.idle.push(worker);
    this.dispatch();
  }
}
