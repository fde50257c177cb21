import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeMessage,
  FrameDecoder,
  type HelloMessage,
  IPC_PROTOCOL_VERSION,
  MessageError,
  parseReply,
  type WorkerReply,
  type WorkerRequest,
} from "@grail/ipc";
import type { Logger, LogLevel } from "@grail/log";
import { WorkerFailure, WorkerStartError } from "./errors.js";
import type { OutgoingRequest, WorkerExit, WorkerTransport } from "./transport.js";

export interface SubprocessSpec {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface SubprocessOptions {
  spec: SubprocessSpec;
  logger: Logger;
  /** How long the child may take to say hello. */
  helloTimeoutMs: number;
  maxFrameBytes?: number;
}

interface Pending {
  resolve: (r: WorkerReply) => void;
  reject: (e: Error) => void;
}

const LEVELS = new Set<string>(["error", "warn", "notice", "info", "debug"]);

/** Re-emits a child's output line: JSON log records at their level, anything else as text. */
function forwardLine(logger: Logger, line: string, stream: "stdout" | "stderr"): void {
  if (line.trim() === "") return;
  if (line.startsWith("{")) {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (typeof rec.msg === "string" && typeof rec.level === "string" && LEVELS.has(rec.level)) {
        const { msg, level, time: _time, ...fields } = rec;
        logger[level as LogLevel](msg, fields);
        return;
      }
    } catch {
      // not a log record: fall through and keep the raw text
    }
  }
  if (stream === "stderr") logger.warn(line, { stream });
  else logger.info(line, { stream });
}

function pipeLines(readable: Readable | null, onLine: (line: string) => void): void {
  if (!readable) return;
  readable.setEncoding("utf8");
  let rest = "";
  readable.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const p of parts) onLine(p);
  });
  readable.on("end", () => {
    if (rest) onLine(rest);
    rest = "";
  });
}

/**
 * A worker child process: requests go down fd 3 and replies come up fd 4 as frames, while its
 * stdout/stderr stay log streams, re-emitted through the pool's logger.
 */
export class SubprocessWorker implements WorkerTransport {
  readonly topology = "subprocess" as const;
  readonly exited: Promise<WorkerExit>;
  private readonly child: ChildProcess;
  private readonly toChild: Writable;
  private readonly logger: Logger;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private helloMessage: HelloMessage | null = null;
  private exitInfo: WorkerExit | null = null;
  private killReason: string | null = null;

  private constructor(child: ChildProcess, logger: Logger, maxFrameBytes: number) {
    this.child = child;
    this.logger = logger;
    const toChild = child.stdio[3] as Writable | null;
    const fromChild = child.stdio[4] as Readable | null;
    if (!toChild || !fromChild) throw new WorkerStartError("the worker's IPC pipes were not created");
    this.toChild = toChild;
    // A child that dies while we write gives EPIPE; the exit handler reports it.
    toChild.on("error", () => undefined);
    fromChild.on("error", () => undefined);
    const decoder = new FrameDecoder({ maxFrameBytes });
    fromChild.on("data", (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) {
        if (!r.ok) {
          this.protocolFailure(`undecodable frame from the worker: ${r.error.message}`);
          return;
        }
        let reply: WorkerReply;
        try {
          reply = parseReply(r.frame);
        } catch (err) {
          if (!(err instanceof MessageError)) throw err;
          this.protocolFailure(`invalid message from the worker: ${err.message}`);
          return;
        }
        this.onReply(reply);
      }
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = {
          code,
          signal,
          reason: this.killReason ?? (signal ? `killed by ${signal}` : `exited with code ${code}`),
        };
        const err = new WorkerFailure(`proof worker (pid ${child.pid}) ${this.exitInfo.reason}`, {
          pid: child.pid,
          code,
          signal,
        });
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve(this.exitInfo);
      });
    });
  }

  /** Spawns the child and waits for its hello. Throws WorkerStartError (and leaves no process). */
  static async start(options: SubprocessOptions): Promise<SubprocessWorker> {
    const { spec, logger } = options;
    let child: ChildProcess;
    try {
      child = spawn(spec.command, [...spec.args], {
        env: spec.env,
        cwd: spec.cwd,
        stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
      });
    } catch (err) {
      throw new WorkerStartError(`cannot start ${spec.command}: ${(err as Error).message}`, {
        command: spec.command,
      });
    }
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    if (child.pid === undefined) {
      const err = await spawnError;
      throw new WorkerStartError(`cannot start ${spec.command}: ${err.message}`, { command: spec.command });
    }
    const childLogger = logger.child({ pid: child.pid });
    pipeLines(child.stdout, (l) => forwardLine(childLogger, l, "stdout"));
    pipeLines(child.stderr, (l) => forwardLine(childLogger, l, "stderr"));
    const worker = new SubprocessWorker(child, childLogger, options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      worker.waitHello(),
      worker.exited.then((e) => new WorkerStartError(`the worker ${e.reason} before saying hello`, { ...e })),
      spawnError.then((e) => new WorkerStartError(`cannot start ${spec.command}: ${e.message}`)),
      new Promise<WorkerStartError>((resolve) => {
        timer = setTimeout(
          () =>
            resolve(new WorkerStartError(`the worker did not say hello within ${options.helloTimeoutMs} ms`)),
          options.helloTimeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
    if (outcome instanceof Error) {
      worker.kill("startup failed");
      await worker.exited;
      throw outcome;
    }
    if (outcome.protocolVersion !== IPC_PROTOCOL_VERSION) {
      worker.kill("protocol mismatch");
      await worker.exited;
      throw new WorkerStartError(
        `the worker speaks IPC protocol ${outcome.protocolVersion}, the pool ${IPC_PROTOCOL_VERSION}; rebuild both from the same tree`,
        { worker: outcome.protocolVersion, pool: IPC_PROTOCOL_VERSION },
        { permanent: true },
      );
    }
    return worker;
  }

  private helloWaiter: ((h: HelloMessage) => void) | null = null;

  private waitHello(): Promise<HelloMessage> {
    if (this.helloMessage) return Promise.resolve(this.helloMessage);
    return new Promise((resolve) => {
      this.helloWaiter = resolve;
    });
  }

  get hello(): HelloMessage {
    if (!this.helloMessage) throw new Error("the worker has not said hello yet");
    return this.helloMessage;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type === "hello") {
      this.helloMessage = reply;
      this.helloWaiter?.(reply);
      this.helloWaiter = null;
      return;
    }
    if (reply.id === null) {
      // An error the worker could not tie to a request: we sent it bytes it could not read.
      this.logger.warn("the worker reported an error about an unidentifiable request", {
        code: reply.type === "error" ? reply.code : undefined,
        error: reply.type === "error" ? reply.message : undefined,
      });
      return;
    }
    const p = this.pending.get(reply.id);
    if (!p) {
      this.logger.warn("reply to an unknown request", { id: reply.id, type: reply.type });
      return;
    }
    this.pending.delete(reply.id);
    p.resolve(reply);
  }

  private protocolFailure(message: string): void {
    this.logger.error(message);
    this.kill(message);
  }

  request(req: OutgoingRequest): Promise<WorkerReply> {
    if (!this.alive) {
      return Promise.reject(new WorkerFailure(`proof worker (pid ${this.pid}) is not running`));
    }
    const id = this.nextId++;
    const full = { ...req, id } as WorkerRequest;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.toChild.write(encodeMessage(full));
    });
  }

  /** Writes raw bytes to the worker's request pipe (diagnostics and protocol tests). */
  writeRaw(bytes: Uint8Array): void {
    this.toChild.write(bytes);
  }

  kill(reason: string): void {
    if (!this.alive) return;
    this.killReason ??= reason;
    this.child.kill("SIGKILL");
  }

  async close(graceMs: number): Promise<WorkerExit> {
    if (!this.alive) return this.exitInfo!;
    this.killReason ??= "shut down";
    const bye = this.request({ type: "shutdown" }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    await Promise.race([bye, timedOut]);
    // After bye the worker exits by itself; closing its request pipe also tells it the parent is done.
    this.toChild.end();
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (r === "timeout") {
      this.kill(`did not exit within ${graceMs} ms of shutdown`);
      return this.exited;
    }
    return r;
  }
}
