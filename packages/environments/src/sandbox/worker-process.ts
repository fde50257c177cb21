import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EnvironmentError } from "../errors.js";
import { cleanWorkerEnv, SANDBOX_WORKER_SCRIPT } from "./python-runtime.js";

export type WorkerMode = "code" | "math";

export interface WorkerLimits {
  /** RLIMIT_AS in bytes. */
  readonly memoryBytes: number;
  /** RLIMIT_CPU in seconds over the worker's life. */
  readonly cpuSeconds: number;
  /** RLIMIT_FSIZE in bytes (largest file the code may write in its directory). */
  readonly fileSizeBytes: number;
  readonly openFiles: number;
  /** Install the seccomp filter (on by default; off only to test the other layers). */
  readonly seccomp: boolean;
}

export interface WorkerSpawnOptions {
  readonly mode: WorkerMode;
  readonly python: string;
  readonly limits: WorkerLimits;
  /** The uid children that run model-written text switch to (the worker must be root), or null. */
  readonly sandboxUid: number | null;
  /** e.g. ["unshare", "-n"]; empty for none. */
  readonly prefix: readonly string[];
  readonly startupTimeoutMs: number;
}

/** What the worker reports after starting a first confined child. */
export interface WorkerReady {
  readonly python: string;
  readonly layers: {
    readonly seccomp: boolean;
    readonly seccomp_problem?: string;
    readonly rlimits: readonly string[];
    readonly audit_hook: boolean;
    /** The uid model-written text runs as. */
    readonly uid: number;
    /** Why it is not the requested sandbox uid. */
    readonly privilege_problem?: string;
  };
}

export class WorkerDiedError extends EnvironmentError {
  constructor(
    readonly reason: string,
    readonly stderrTail: string,
  ) {
    super(`sandbox worker died: ${reason}${stderrTail ? ` (stderr: ${stderrTail.slice(-500)})` : ""}`, {
      reason,
      stderrTail,
    });
  }
}

export class WorkerTimeoutError extends EnvironmentError {
  constructor(readonly timeoutMs: number) {
    super(`sandbox worker gave no answer within ${timeoutMs} ms and was killed`, { timeoutMs });
  }
}

const MAX_LINE_BYTES = 32 << 20;
const STDERR_TAIL = 4096;

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One sandbox worker with a private, throw-away working directory. It answers one request at a
 * time, running the untrusted part in confined children that answer only through their exit
 * status; a request that outlives its deadline kills the whole process group, children included.
 */
export class WorkerProcess {
  readonly workDir: string;
  jobsDone = 0;
  private readonly child: ChildProcess;
  private buffer: Buffer[] = [];
  private bufferedBytes = 0;
  private stderrTail = "";
  private pending: Pending | null = null;
  private nextId = 1;
  private exited = false;
  private readyWaiter: { resolve(r: WorkerReady): void; reject(e: Error): void } | null = null;
  readonly ready: Promise<WorkerReady>;
  readonly exitedPromise: Promise<void>;

  constructor(opts: WorkerSpawnOptions) {
    this.workDir = mkdtempSync(join(tmpdir(), "grail-sandbox-"));
    const config = {
      mode: opts.mode,
      memory_bytes: opts.limits.memoryBytes,
      cpu_seconds: opts.limits.cpuSeconds,
      fsize_bytes: opts.limits.fileSizeBytes,
      nofile: opts.limits.openFiles,
      seccomp: opts.limits.seccomp,
      sandbox_uid: opts.sandboxUid,
    };
    // -I: ignore PYTHON* variables and user site; -B: no .pyc writes; -S (code mode): no site
    // packages at all, the allowed modules are all in the standard library.
    const pyArgs = [
      "-I",
      "-B",
      ...(opts.mode === "code" ? ["-S"] : []),
      SANDBOX_WORKER_SCRIPT,
      JSON.stringify(config),
    ];
    const [cmd, ...args] = [...opts.prefix, opts.python, ...pyArgs];
    this.child = spawn(cmd as string, args, {
      cwd: this.workDir,
      env: cleanWorkerEnv(this.workDir),
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // own process group, so a kill reaches anything it managed to start
    });
    this.ready = new Promise<WorkerReady>((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
    });
    const startupTimer = setTimeout(() => {
      this.failReady(new WorkerDiedError(`not ready within ${opts.startupTimeoutMs} ms`, this.stderrTail));
      this.kill();
    }, opts.startupTimeoutMs);
    this.ready.then(
      () => clearTimeout(startupTimer),
      () => clearTimeout(startupTimer),
    );
    this.exitedPromise = new Promise<void>((resolve) => {
      this.child.once("close", (code, signal) => {
        this.exited = true;
        const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const err = new WorkerDiedError(reason, this.stderrTail);
        this.failReady(err);
        this.failPending(err);
        rmSync(this.workDir, { recursive: true, force: true });
        resolve();
      });
    });
    this.child.once("error", (e) => {
      const err = new WorkerDiedError(`spawn failed: ${e.message}`, "");
      this.failReady(err);
      this.failPending(err);
    });
    this.child.stdout?.on("data", (chunk: Buffer) => this.onStdout(chunk));
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    // A worker killed mid-write must not surface as an unhandled EPIPE in the miner.
    this.child.stdin?.on("error", () => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  /** Sends one job; resolves with the worker's JSON answer, rejects if it dies or overruns. */
  request(job: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new WorkerDiedError("already exited", this.stderrTail));
    if (this.pending) return Promise.reject(new Error("worker is busy"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failPending(new WorkerTimeoutError(timeoutMs));
        this.kill();
      }, timeoutMs);
      this.pending = { resolve, reject, timer };
      this.child.stdin?.write(`${JSON.stringify({ ...job, id })}\n`);
    });
  }

  /** Ends the worker at once: SIGKILL to its process group. */
  kill(): void {
    if (this.exited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, "SIGKILL");
    } catch {
      this.child.kill("SIGKILL");
    }
  }

  /** Lets an idle worker finish by closing its input; kills it if it lingers. */
  async retire(graceMs = 2000): Promise<void> {
    this.child.stdin?.end();
    const t = setTimeout(() => this.kill(), graceMs);
    await this.exitedPromise;
    clearTimeout(t);
  }

  private onStdout(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.buffer.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.buffer).toString("utf8");
      this.buffer = [];
      this.bufferedBytes = 0;
      start = nl + 1;
      this.onLine(line);
    }
    if (start < chunk.length) {
      this.buffer.push(chunk.subarray(start));
      this.bufferedBytes += chunk.length - start;
      if (this.bufferedBytes > MAX_LINE_BYTES) {
        this.failPending(new WorkerDiedError("oversized answer", this.stderrTail));
        this.kill();
      }
    }
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Only code under test could have written this; the channel can no longer be trusted.
      this.failReady(new WorkerDiedError("garbled output", this.stderrTail));
      this.failPending(new WorkerDiedError("garbled output", this.stderrTail));
      this.kill();
      return;
    }
    if (msg.ready === true && this.readyWaiter) {
      const w = this.readyWaiter;
      this.readyWaiter = null;
      w.resolve({ python: String(msg.python), layers: msg.layers as WorkerReady["layers"] });
      return;
    }
    const p = this.pending;
    if (!p) return;
    if (msg.id !== this.nextId - 1) {
      this.failPending(new WorkerDiedError("answer for an unknown request", this.stderrTail));
      this.kill();
      return;
    }
    clearTimeout(p.timer);
    this.pending = null;
    this.jobsDone++;
    p.resolve(msg);
  }

  private failReady(e: Error): void {
    if (!this.readyWaiter) return;
    const w = this.readyWaiter;
    this.readyWaiter = null;
    w.reject(e);
  }

  private failPending(e: Error): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = null;
    p.reject(e);
  }
}
