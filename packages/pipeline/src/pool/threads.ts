import { setTimeout as sleep } from "node:timers/promises";
import { type HelloMessage, IPC_PROTOCOL_VERSION, type WorkerReply, type WorkerRequest } from "@grail/ipc";
import type { Logger, Verbosity } from "@grail/log";
import { Piscina } from "piscina";
import { WorkerFailure, WorkerStartError } from "./errors.js";
import type { OutgoingRequest, WorkerExit, WorkerTransport } from "./transport.js";

export interface ThreadWorkerOptions {
  /** The worker's piscina task file (dist/thread.js of @grail/proof-worker). */
  filename: string;
  gpu: number;
  verbosity: Verbosity;
  logger: Logger;
}

/**
 * The thread runs the worker's compiled JavaScript, so package resolution must use the default
 * export conditions: a coordinator started with `--conditions source` (a test runner, tsx) would
 * otherwise make the thread resolve workspace packages to TypeScript sources plain Node cannot load.
 */
export function compiledExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (a === "--conditions" || a === "-C") {
      i++;
      continue;
    }
    if (a.startsWith("--conditions=")) continue;
    out.push(a);
  }
  return out;
}

/**
 * A worker thread of the in-process topology: the same worker core as a child process, driven
 * through piscina with message objects. One thread per GPU, kept alive for the pool's lifetime;
 * several tasks may be outstanding so health checks are answered while a batch is being proved.
 * A thread that dies is not respawned by piscina's own logic: the pool restarts it like a process.
 */
export class ThreadWorker implements WorkerTransport {
  readonly topology = "in-process" as const;
  readonly exited: Promise<WorkerExit>;
  private readonly piscina: Piscina;
  private readonly logger: Logger;
  private nextId = 1;
  private helloMessage: HelloMessage | null = null;
  private exitInfo: WorkerExit | null = null;
  private markExited!: (e: WorkerExit) => void;
  private readonly aborter = new AbortController();

  private constructor(options: ThreadWorkerOptions) {
    this.logger = options.logger;
    this.piscina = new Piscina({
      filename: options.filename,
      minThreads: 1,
      maxThreads: 1,
      // Never retire the thread: it holds the loaded model.
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 16,
      workerData: { gpu: options.gpu, verbosity: options.verbosity },
      execArgv: compiledExecArgv(process.execArgv),
    });
    this.piscina.on("error", (err: Error) => this.die(`worker thread failed: ${err.message}`));
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
  }

  static async start(options: ThreadWorkerOptions): Promise<ThreadWorker> {
    let worker: ThreadWorker;
    try {
      worker = new ThreadWorker(options);
    } catch (err) {
      throw new WorkerStartError(`cannot start a worker thread: ${(err as Error).message}`, {
        filename: options.filename,
      });
    }
    try {
      const hello = (await worker.run({ type: "hello" })) as HelloMessage;
      if (hello.protocolVersion !== IPC_PROTOCOL_VERSION) {
        throw new Error(`it speaks IPC protocol ${hello.protocolVersion}, the pool ${IPC_PROTOCOL_VERSION}`);
      }
      worker.helloMessage = hello;
    } catch (err) {
      worker.kill("startup failed");
      throw new WorkerStartError(`the worker thread did not start: ${(err as Error).message}`, {
        filename: options.filename,
      });
    }
    return worker;
  }

  get hello(): HelloMessage {
    if (!this.helloMessage) throw new Error("the worker thread has not said hello yet");
    return this.helloMessage;
  }

  get pid(): number {
    return process.pid;
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  private async run(task: WorkerRequest | { type: "hello" }): Promise<WorkerReply> {
    try {
      return (await this.piscina.run(task, { signal: this.aborter.signal })) as WorkerReply;
    } catch (err) {
      // The core answers every request; a rejected task means the thread itself broke.
      const reason = this.exitInfo?.reason ?? `worker thread failed: ${(err as Error).message}`;
      this.die(reason);
      throw new WorkerFailure(`in-process proof worker ${reason}`);
    }
  }

  request(req: OutgoingRequest): Promise<WorkerReply> {
    if (!this.alive) {
      return Promise.reject(new WorkerFailure(`in-process proof worker ${this.exitInfo!.reason}`));
    }
    return this.run({ ...req, id: this.nextId++ } as WorkerRequest);
  }

  private die(reason: string): void {
    if (this.exitInfo) return;
    this.exitInfo = { code: null, signal: null, reason };
    this.aborter.abort(new WorkerFailure(reason));
    void this.piscina.destroy().then(
      () => this.markExited(this.exitInfo!),
      (err: Error) => {
        this.logger.warn("worker thread did not stop cleanly", { error: err.message });
        this.markExited(this.exitInfo!);
      },
    );
  }

  kill(reason: string): void {
    this.die(reason);
  }

  async close(graceMs: number): Promise<WorkerExit> {
    if (this.alive) {
      // The grace timer is cleared once the worker answered: it must not outlive the close.
      const answered = new AbortController();
      await Promise.race([
        this.request({ type: "shutdown" }).catch(() => undefined),
        sleep(graceMs, undefined, { signal: answered.signal }).catch(() => undefined),
      ]);
      answered.abort();
      this.die("shut down");
    }
    return this.exited;
  }
}
