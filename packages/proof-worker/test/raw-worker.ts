import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeMessage, FrameDecoder, parseReply, type WorkerMessage, type WorkerReply } from "@grail/ipc";

/**
 * A worker child driven byte by byte, for protocol tests: raw writes to fd 3, replies decoded
 * from fd 4 in arrival order, stdout/stderr collected.
 */
export class RawWorker {
  readonly child: ChildProcess;
  readonly output: string[] = [];
  private readonly replies: WorkerReply[] = [];
  private waiters: (() => void)[] = [];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(command, args, {
      env: { ...process.env, GRAIL_WORKER_IPC: "1", ...env },
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (d) => this.output.push(String(d)));
    this.child.stderr!.on("data", (d) => this.output.push(String(d)));
    const decoder = new FrameDecoder();
    (this.child.stdio[4] as Readable).on("data", (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) {
        if (!r.ok) throw r.error;
        this.replies.push(parseReply(r.frame));
      }
      for (const w of this.waiters.splice(0)) w();
    });
    (this.child.stdio[3] as Writable).on("error", () => undefined);
    this.exit = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve({ code, signal })),
    );
  }

  write(bytes: Uint8Array): void {
    (this.child.stdio[3] as Writable).write(bytes);
  }

  send(msg: WorkerMessage): void {
    this.write(encodeMessage(msg));
  }

  endInput(): void {
    (this.child.stdio[3] as Writable).end();
  }

  /** The next reply (in order), waiting up to timeoutMs. */
  async next(timeoutMs = 20_000): Promise<WorkerReply> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (Date.now() > deadline)
        throw new Error(`no reply within ${timeoutMs} ms; output:\n${this.output.join("")}`);
      // A reply wakes the wait early.
      const woken = new AbortController();
      this.waiters.push(() => woken.abort());
      await sleep(50, undefined, { signal: woken.signal }).catch(() => undefined);
    }
    return this.replies.shift()!;
  }
}

/** Whether a pid is a live (non-zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
