import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { RolloutRecord } from "@grail/protocol";
import { writeWindowFile } from "@grail/storage";
import { MiningError } from "./errors.js";
import {
  type FinishSpec,
  packRow,
  type WriterReply,
  type WriterRequest,
  writeWindow,
} from "./window-writer-core.js";

/** The window file could not be written (disk full, writer thread died). */
export class WindowWriteError extends MiningError {}

export interface WrittenWindowFile {
  path: string;
  size: number;
  rows: number;
  /** Time spent serialising (in the writer thread or inline). */
  writeMs: number;
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
 * Collects each window's rows as groups finish and writes the Parquet file when the window is
 * finished. `thread` (the default) runs the storage package's writer in a worker thread, so the
 * coordinator's loop keeps signing and dispatching while a window of thousands of rows is
 * serialised; `inline` writes on the calling thread (tests, tools).
 */
export class WindowFileWriter {
  private readonly worker: Worker | null;
  private readonly inlineRows = new Map<number, RolloutRecord[]>();
  private readonly pending = new Map<number, { resolve: (r: WriterReply) => void }>();
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(readonly mode: "thread" | "inline") {
    if (mode === "inline") {
      this.worker = null;
      return;
    }
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
    this.worker = new Worker(entry, { execArgv });
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

  static create(mode: "thread" | "inline" = "thread"): WindowFileWriter {
    return new WindowFileWriter(mode);
  }

  /** Adds finished rows to a window (cheap on this thread: one structured clone per call). */
  append(windowStart: number, rows: RolloutRecord[]): void {
    if (rows.length === 0) return;
    if (!this.worker) {
      const list = this.inlineRows.get(windowStart) ?? [];
      for (const r of rows) list.push(r);
      this.inlineRows.set(windowStart, list);
      return;
    }
    const packed = rows.map(packRow);
    this.post(
      { type: "append", windowStart, rows: packed },
      packed.flatMap((p) => [p.tokens.buffer as ArrayBuffer, p.logprobs.buffer as ArrayBuffer]),
    );
  }

  /** Forgets a window's rows without writing them. */
  discard(windowStart: number): void {
    if (!this.worker) this.inlineRows.delete(windowStart);
    else this.post({ type: "discard", windowStart });
  }

  /** Writes the window's rows (inference_count is set to their number) and forgets them. */
  async finish(windowStart: number, spec: FinishSpec): Promise<WrittenWindowFile> {
    if (!this.worker) {
      const rows = this.inlineRows.get(windowStart) ?? [];
      this.inlineRows.delete(windowStart);
      try {
        return { path: spec.path, ...(await writeWindow(writeWindowFile, rows, spec)) };
      } catch (err) {
        throw new WindowWriteError(
          `window ${windowStart} file could not be written: ${(err as Error).message}`,
          {
            windowStart,
            path: spec.path,
          },
        );
      }
    }
    const id = this.nextId++;
    const reply = await new Promise<WriterReply>((resolve) => {
      if (this.failure) {
        resolve({ id, ok: false, error: this.failure.message });
        return;
      }
      this.pending.set(id, { resolve });
      this.post({ type: "finish", id, windowStart, ...spec });
    });
    if (!reply.ok) {
      throw new WindowWriteError(`window ${windowStart} file could not be written: ${reply.error}`, {
        windowStart,
        path: spec.path,
      });
    }
    return { path: spec.path, size: reply.size, rows: reply.rows, writeMs: reply.writeMs };
  }

  async close(): Promise<void> {
    this.inlineRows.clear();
    if (this.worker) await this.worker.terminate();
  }

  private post(msg: WriterRequest, transfer: ArrayBuffer[] = []): void {
    if (this.failure) throw new WindowWriteError(`window writer thread failed: ${this.failure.message}`, {});
    this.worker!.postMessage(msg, transfer);
  }
}
