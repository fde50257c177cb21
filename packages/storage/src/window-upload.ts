/**
 * Window upload with a local spool (spec/miner-pipeline.md §3.11, §7.2).
 *
 * The Parquet file is written to `<spoolDir>/<key basename>` first, with a small JSON
 * sidecar recording its object key and deadline. The spool file is deleted only once a
 * HEAD on the uploaded object reports the same size; when the upload fails the file
 * stays, so the miner can retry it (`retryPending`) while the window's deadline allows.
 */
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { RolloutRecord } from "@grail/protocol";
import { MAX_ROLLOUT_FILE_SIZE_BYTES, MIN_ROLLOUT_FILE_SIZE_BYTES } from "@grail/protocol";
import { StorageError, TransferError, UploadDeadlineError, WindowFileSizeError } from "./errors.js";
import type { ObjectStoreClient } from "./object-store.js";
import { type WindowFileCodec, windowFileMetadata, windowObjectKey, writeWindowFile } from "./window-file.js";

/** The upload failed; the file is still in the spool at `spoolPath`. */
export class WindowUploadError extends StorageError {
  constructor(
    readonly key: string,
    readonly spoolPath: string,
    readonly deadlinePassed: boolean,
    cause: unknown,
  ) {
    super(
      `window file ${key} was not uploaded (${(cause as Error)?.message ?? String(cause)}); ` +
        `it is kept at ${spoolPath}${deadlinePassed ? " but its deadline has passed" : " for a retry before its deadline"}`,
      { key, spoolPath, deadlinePassed },
      { cause },
    );
  }
}

export interface SpoolEntry {
  /** The Parquet file in the spool directory. */
  path: string;
  key: string;
  hotkey: string;
  windowStart: number;
  deadlineMs: number;
  size: number;
}

export interface WindowUploadResult {
  key: string;
  size: number;
  etag: string | undefined;
  lastModified: Date | undefined;
  multipart: boolean;
  attempts: number;
  /** Serialise + upload, the figure the time budget's upload EMA needs. */
  durationMs: number;
}

export interface WindowUploaderOptions {
  /** The miner's write client (its own bucket, write keys). */
  writer: ObjectStoreClient;
  spoolDir: string;
  codec?: WindowFileCodec;
  minFileBytes?: number;
  maxFileBytes?: number;
  now?: () => number;
}

export class WindowUploader {
  private readonly writer: ObjectStoreClient;
  readonly spoolDir: string;
  private readonly codec: WindowFileCodec | undefined;
  private readonly minFileBytes: number;
  private readonly maxFileBytes: number;
  private readonly now: () => number;

  constructor(opts: WindowUploaderOptions) {
    if (opts.writer.role !== "write") {
      throw new StorageError(
        "the window uploader needs the write client (R2_WRITE_* keys), not the read client",
        {
          role: opts.writer.role,
        },
      );
    }
    this.writer = opts.writer;
    this.spoolDir = opts.spoolDir;
    this.codec = opts.codec;
    this.minFileBytes = opts.minFileBytes ?? MIN_ROLLOUT_FILE_SIZE_BYTES;
    this.maxFileBytes = opts.maxFileBytes ?? MAX_ROLLOUT_FILE_SIZE_BYTES;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Serialises the window's rows to the spool, checks the validator's size bounds and
   * uploads to `grail/windows/{hotkey}-window-{W}.parquet` before `deadlineMs`.
   */
  async uploadWindow(input: {
    rows: readonly RolloutRecord[];
    hotkey: string;
    windowStart: number;
    deadlineMs: number;
    timestampSeconds?: number;
  }): Promise<WindowUploadResult> {
    const started = this.now();
    const key = windowObjectKey(input.hotkey, input.windowStart);
    const path = join(this.spoolDir, basename(key));
    const metadata = windowFileMetadata({
      hotkey: input.hotkey,
      windowStart: input.windowStart,
      rowCount: input.rows.length,
      timestampSeconds: input.timestampSeconds ?? this.now() / 1000,
    });
    await writeWindowFile(input.rows, metadata, path, { codec: this.codec });
    const size = (await stat(path)).size;
    if (size < this.minFileBytes || size > this.maxFileBytes) {
      // A file outside the bounds is ignored by validators whatever we do: drop it.
      await rm(path, { force: true });
      throw new WindowFileSizeError(
        `window file ${key} is ${size} bytes, outside the accepted [${this.minFileBytes}, ${this.maxFileBytes}]; ` +
          "validators would reject it, so it was not uploaded",
        { key, size, min: this.minFileBytes, max: this.maxFileBytes },
      );
    }
    const entry: SpoolEntry = {
      path,
      key,
      hotkey: input.hotkey,
      windowStart: input.windowStart,
      deadlineMs: input.deadlineMs,
      size,
    };
    await writeFile(sidecarPath(path), JSON.stringify(entry));
    const result = await this.uploadSpooled(entry);
    return { ...result, durationMs: this.now() - started };
  }

  /** Uploads one spooled file and removes it once the store confirms the object. */
  async uploadSpooled(entry: SpoolEntry): Promise<WindowUploadResult> {
    const started = this.now();
    try {
      if (this.now() >= entry.deadlineMs) {
        throw new UploadDeadlineError(this.writer.bucket, entry.key, entry.deadlineMs, 0);
      }
      const up = await this.writer.uploadFile(entry.path, entry.key, {
        deadlineMs: entry.deadlineMs,
        contentType: "application/octet-stream",
      });
      const head = await this.writer.head(entry.key, {
        deadlineMs: Math.max(entry.deadlineMs, this.now() + 10_000),
      });
      if (!head || head.size !== entry.size) {
        throw new TransferError(
          `upload of ${entry.key} not confirmed: HEAD reports ${head ? `${head.size} bytes` : "no object"}, ` +
            `expected ${entry.size}`,
          { key: entry.key, expected: entry.size, actual: head?.size ?? null },
        );
      }
      await rm(entry.path, { force: true });
      await rm(sidecarPath(entry.path), { force: true });
      return {
        key: entry.key,
        size: entry.size,
        etag: head.etag ?? up.etag,
        lastModified: head.lastModified,
        multipart: up.multipart,
        attempts: up.attempts,
        durationMs: this.now() - started,
      };
    } catch (err) {
      throw new WindowUploadError(entry.key, entry.path, this.now() >= entry.deadlineMs, err);
    }
  }

  /** Spooled files whose upload has not been confirmed, oldest window first. */
  async pendingSpool(): Promise<Array<SpoolEntry & { expired: boolean }>> {
    let names: string[];
    try {
      names = await readdir(this.spoolDir);
    } catch {
      return [];
    }
    const out: Array<SpoolEntry & { expired: boolean }> = [];
    for (const name of names) {
      if (!name.endsWith(".parquet.json")) continue;
      try {
        const entry = JSON.parse(await readFile(join(this.spoolDir, name), "utf8")) as SpoolEntry;
        await stat(entry.path);
        out.push({ ...entry, expired: this.now() >= entry.deadlineMs });
      } catch {
        // A sidecar without its file (or unreadable) is debris from a crash mid-cleanup.
        await rm(join(this.spoolDir, name), { force: true });
      }
    }
    return out.sort((a, b) => a.windowStart - b.windowStart);
  }

  /** Retries every pending file whose deadline has not passed; returns per-file outcomes. */
  async retryPending(): Promise<Array<{ entry: SpoolEntry; result?: WindowUploadResult; error?: unknown }>> {
    const outcomes: Array<{ entry: SpoolEntry; result?: WindowUploadResult; error?: unknown }> = [];
    for (const entry of await this.pendingSpool()) {
      if (entry.expired) continue;
      try {
        outcomes.push({ entry, result: await this.uploadSpooled(entry) });
      } catch (error) {
        outcomes.push({ entry, error });
      }
    }
    return outcomes;
  }

  /** Deletes spooled files whose deadline has passed (validators ignore late uploads). */
  async discardExpired(): Promise<SpoolEntry[]> {
    const expired = (await this.pendingSpool()).filter((e) => e.expired);
    for (const e of expired) {
      await rm(e.path, { force: true });
      await rm(sidecarPath(e.path), { force: true });
    }
    return expired;
  }
}

function sidecarPath(path: string): string {
  return `${path}.json`;
}
