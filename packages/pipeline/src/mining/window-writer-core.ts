import { dirname, join } from "node:path";
import type { RolloutRecord, WindowFileMetadata } from "@grail/protocol";
import {
  WindowFileAppender,
  type WindowFileCodec,
  WindowFileFormatError,
  type WindowFileRow,
} from "@grail/storage";

/**
 * A row on its way to the writer thread: the two long number lists travel as typed arrays whose
 * buffers are transferred, not cloned element by element (the clone cost ~0.5 ms per row of
 * ~700 tokens on the coordinator's thread; the transfer is a copy into one typed array). The
 * thread hands them to the Parquet encoder as they are.
 */
export interface PackedRow {
  row: RolloutRecord;
  tokens: Int32Array;
  logprobs: Float64Array;
}

export function packRow(row: RolloutRecord): PackedRow {
  const { tokens, rollout } = row.commit;
  const stripped: RolloutRecord = {
    ...row,
    commit: { ...row.commit, tokens: [], rollout: { ...rollout, token_logprobs: [] } },
  };
  return {
    row: stripped,
    tokens: Int32Array.from(tokens),
    logprobs: Float64Array.from(rollout.token_logprobs),
  };
}

export function unpackRow(p: PackedRow): WindowFileRow {
  const { row } = p;
  return {
    ...row,
    commit: {
      ...row.commit,
      tokens: p.tokens,
      rollout: { ...row.commit.rollout, token_logprobs: p.logprobs },
    },
  };
}

/** Where a window's file is built while it is mined: the spool directory, so the final rename stays on one disk. */
export interface WindowFileLocation {
  dir: string;
  codec?: WindowFileCodec;
}

/** Messages from the coordinator to the writer thread. */
export type WriterRequest =
  | { type: "append"; windowStart: number; file: WindowFileLocation; rows: PackedRow[] }
  | { type: "discard"; windowStart: number }
  | ({ type: "finish"; id: number; windowStart: number } & FinishSpec)
  | { type: "close"; id: number };

export interface FinishSpec {
  path: string;
  metadata: WindowFileMetadata;
  /** Codec of a window to which no row was appended (otherwise the one it was opened with). */
  codec?: WindowFileCodec;
}

export interface FinishedWindow {
  size: number;
  rows: number;
  /** Serialising time over the whole window (appends and the final flush). */
  writeMs: number;
  /** Time from the finish request to the renamed file: the part of the write the seal waits for. */
  finishMs: number;
  /** Rows refused because a value was missing or mistyped (whole append calls, i.e. whole groups). */
  rejectedRows: number;
  rejectedReason?: string;
}

export type WriterReply =
  | ({ id: number; ok: true } & FinishedWindow)
  | { id: number; ok: true; closed: true }
  | { id: number; ok: false; error: string };

/** Name of a window's file while it is being built; `token` names the writer that owns it. */
export function partialFileName(windowStart: number, token: string): string {
  return `window-${windowStart}.${token}.partial`;
}

export const PARTIAL_FILE = /^window-\d+\.([0-9a-f]+)\.partial$/;

interface OpenWindow {
  appender: Promise<WindowFileAppender>;
  /** Appends run in order, each after the file is open. */
  queue: Promise<void>;
  /** The file cannot be written (could not be created, disk error): finish fails. */
  failure: Error | null;
  rejectedRows: number;
  rejectedReason?: string;
  writeMs: number;
}

/**
 * Each open window's file, built while its groups arrive (storage's WindowFileAppender): rows are
 * encoded as they are appended and row groups written to the partial file, so finishing a window
 * only writes the last row group and the footer. Shared by the writer thread and the inline mode.
 */
export class WindowFileSet {
  private readonly windows = new Map<number, OpenWindow>();

  constructor(
    private readonly token: string,
    private readonly rowGroupSize?: number,
  ) {}

  append(windowStart: number, rows: readonly WindowFileRow[], file: WindowFileLocation): void {
    const w = this.windows.get(windowStart) ?? this.open(windowStart, file);
    w.queue = w.queue.then(async () => {
      if (w.failure) return;
      try {
        const appender = await w.appender;
        const started = performance.now();
        try {
          appender.append(rows);
        } finally {
          w.writeMs += performance.now() - started;
        }
      } catch (err) {
        if (err instanceof WindowFileFormatError && !w.failure) {
          w.rejectedRows += rows.length;
          w.rejectedReason ??= err.message;
        } else {
          w.failure ??= err as Error;
        }
      }
    });
  }

  /** Forgets a window: its partial file is removed. */
  async discard(windowStart: number): Promise<void> {
    const w = this.windows.get(windowStart);
    if (!w) return;
    this.windows.delete(windowStart);
    await this.abandon(w);
  }

  /** Writes the window's last rows and footer (inference_count = rows written) and renames the file to `spec.path`. */
  async finish(windowStart: number, spec: FinishSpec): Promise<FinishedWindow> {
    const started = performance.now();
    const w =
      this.windows.get(windowStart) ??
      this.open(windowStart, { dir: dirname(spec.path), ...(spec.codec ? { codec: spec.codec } : {}) });
    this.windows.delete(windowStart);
    await w.queue;
    if (w.failure) {
      await this.abandon(w);
      throw w.failure;
    }
    const appender = await w.appender;
    const metadata = { ...spec.metadata, inference_count: String(appender.rows) };
    const closing = performance.now();
    const written = await appender.close(metadata, spec.path);
    const finished = performance.now();
    return {
      size: written.size,
      rows: written.rows,
      writeMs: w.writeMs + (finished - closing),
      finishMs: finished - started,
      rejectedRows: w.rejectedRows,
      ...(w.rejectedReason ? { rejectedReason: w.rejectedReason } : {}),
    };
  }

  /** Abandons every open window (their partial files are removed). */
  async close(): Promise<void> {
    const open = [...this.windows.values()];
    this.windows.clear();
    await Promise.all(open.map((w) => this.abandon(w)));
  }

  private open(windowStart: number, file: WindowFileLocation): OpenWindow {
    const path = join(file.dir, partialFileName(windowStart, this.token));
    const appender = WindowFileAppender.create(path, {
      ...(file.codec ? { codec: file.codec } : {}),
      ...(this.rowGroupSize ? { rowGroupSize: this.rowGroupSize } : {}),
    });
    const w: OpenWindow = { appender, queue: Promise.resolve(), failure: null, rejectedRows: 0, writeMs: 0 };
    appender.catch((err: unknown) => {
      w.failure ??= err as Error;
    });
    this.windows.set(windowStart, w);
    return w;
  }

  private async abandon(w: OpenWindow): Promise<void> {
    await w.queue;
    try {
      await (await w.appender).abort();
    } catch {
      // never created: nothing on disk
    }
  }
}
