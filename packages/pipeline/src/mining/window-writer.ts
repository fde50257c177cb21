import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { RolloutRecord } from "@grail/protocol";
import { MiningError } from "./errors.js";
import {
  type FinishedWindow,
  type FinishSpec,
  PARTIAL_FILE,
  packRow,
  type WindowFileLocation,
  WindowFileSet,
  type WriterReply,
  type WriterRequest,
} from "./window-writer-core.js";

/** The window file could not be written (disk full, writer thread died). */
export class WindowWriteError extends MiningError {}

export interface WrittenWindowFile extends FinishedWindow {
  path: string;
}

export interface WindowFileWriterOptions {
  /** Rows per Parquet row group: the most rows left to encode when a window is finished. Default 256. */
  rowGroupSize?: number;
}

/**
 * Where the compiled thread entry is. Under a test runner this module runs from src/, while a
 * worker thread needs compiled JavaScript: dist/ (built by `pnpm build`).
 */
export function writerThreadPath(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith(".ts")
    ? here.replace(
        /([/\\])src([/\\])mining([/\\])window-writer\.ts$/,
        "$1dist$2mining$3window-writer-thread.js",
      )
    : here.replace(/window-writer\.js$/, "window-writer-thread.js");
  return js;
}

function isConditionFlag(arg: string, previous: string | undefined): boolean {
  if (arg.startsWith("--conditions") || arg.startsWith("-C")) return true;
  return previous === "--conditions" || previous === "-C";
}

/**
 * Builds each window's Parquet file while the window is mined: rows are encoded as groups are
 * appended and full row groups written to a partial file in the spool directory, so finishing
 * a window only writes its last row group and the footer, then renames the file. `thread` (the
 * default) does the encoding in a worker thread, so the coordinator's loop keeps signing and
 * dispatching meanwhile; `inline` does it on the calling thread (tests, tools).
 *
 * Only rows appended end in the file (the batch scheduler appends a group only when it was
 * accepted before the seal); a discarded window's partial file is removed.
 */
export class WindowFileWriter {
  private readonly worker: Worker | null;
  private readonly inline: WindowFileSet | null;
  /** Names this writer's partial files, so files left by an earlier process can be told apart. */
  readonly token = randomBytes(6).toString("hex");
  private readonly pending = new Map<number, { resolve: (r: WriterReply) => void }>();
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(
    readonly mode: "thread" | "inline",
    options: WindowFileWriterOptions,
  ) {
    const rowGroupSize = options.rowGroupSize ?? 256;
    if (mode === "inline") {
      this.worker = null;
      this.inline = new WindowFileSet(this.token, rowGroupSize);
      return;
    }
    this.inline = null;
    const entry = writerThreadPath();
    if (!existsSync(entry)) {
      throw new WindowWriteError(
        `${entry} is missing: build the pipeline package first ("pnpm turbo run build --filter @grail/pipeline")`,
        { entry },
      );
    }
    // The thread runs compiled code: drop a test runner's `--conditions=source`, which would send
    // its imports to TypeScript sources.
    const execArgv = process.execArgv.filter((a, i, all) => !isConditionFlag(a, all[i - 1]));
    this.worker = new Worker(entry, { execArgv, workerData: { token: this.token, rowGroupSize } });
    this.worker.unref();
    this.worker.on("message", (reply: WriterReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiter?.resolve(reply);
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const [id, w] of this.pending) w.resolve({ id, ok: false, error: err.message });
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => {
      if (!this.failure) fail(new Error(`window writer thread exited with code ${code}`));
    });
  }

  static create(
    mode: "thread" | "inline" = "thread",
    options: WindowFileWriterOptions = {},
  ): WindowFileWriter {
    return new WindowFileWriter(mode, options);
  }

  /**
   * Adds a finished group's rows to a window. The window's file is opened in `file.dir` (the
   * system temp directory by default) at its first append. Cheap on this thread: in thread mode
   * one structured clone per call with the long lists transferred.
   */
  append(windowStart: number, rows: RolloutRecord[], file: WindowFileLocation = { dir: tmpdir() }): void {
    if (rows.length === 0) return;
    if (this.inline) {
      this.inline.append(windowStart, rows, file);
      return;
    }
    const packed = rows.map(packRow);
    this.post(
      { type: "append", windowStart, file, rows: packed },
      packed.flatMap((p) => [p.tokens.buffer as ArrayBuffer, p.logprobs.buffer as ArrayBuffer]),
    );
  }

  /** Forgets a window's rows; its partial file is removed. */
  discard(windowStart: number): void {
    if (this.inline) void this.inline.discard(windowStart);
    else this.post({ type: "discard", windowStart });
  }

  /** Writes the window's remaining rows and footer (inference_count = rows written) to `spec.path`. */
  async finish(windowStart: number, spec: FinishSpec): Promise<WrittenWindowFile> {
    let reply: WriterReply;
    if (this.inline) {
      try {
        reply = { id: 0, ok: true, ...(await this.inline.finish(windowStart, spec)) };
      } catch (err) {
        reply = { id: 0, ok: false, error: (err as Error).message };
      }
    } else {
      reply = await this.request((id) => ({ type: "finish", id, windowStart, ...spec }));
    }
    if (!reply.ok || "closed" in reply) {
      throw new WindowWriteError(
        `window ${windowStart} file could not be written: ${reply.ok ? "the writer is closed" : reply.error}`,
        { windowStart, path: spec.path },
      );
    }
    const { id: _id, ok: _ok, ...written } = reply;
    return { path: spec.path, ...written };
  }

  /**
   * Removes partial window files in `dir` that this writer does not own: left by a process that
   * was killed mid-window (a spool directory serves one miner). Returns how many were removed.
   */
  async removeStalePartials(dir: string): Promise<number> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const owner = PARTIAL_FILE.exec(name)?.[1];
      if (owner === undefined || owner === this.token) continue;
      await rm(join(dir, name), { force: true });
      removed++;
    }
    return removed;
  }

  /** Abandons the windows still open (their partial files are removed) and stops the thread. */
  async close(): Promise<void> {
    if (this.inline) {
      await this.inline.close();
      return;
    }
    if (!this.failure) await this.request((id) => ({ type: "close", id }));
    await this.worker!.terminate();
  }

  private request(msg: (id: number) => WriterRequest): Promise<WriterReply> {
    const id = this.nextId++;
    return new Promise<WriterReply>((resolve) => {
      if (this.failure) {
        resolve({ id, ok: false, error: this.failure.message });
        return;
      }
      this.pending.set(id, { resolve });
      this.worker!.postMessage(msg(id));
    });
  }

  private post(msg: WriterRequest, transfer: ArrayBuffer[] = []): void {
    if (this.failure) throw new WindowWriteError(`window writer thread failed: ${this.failure.message}`, {});
    this.worker!.postMessage(msg, transfer);
  }
}
