/**
 * Window upload with a local spool (spec/miner-pipeline.md §3.11, §7.2).
 *
 * The Parquet file is written to `<spoolDir>/<key basename>` first, with a JSON sidecar
 * recording its object key, deadline, size, rows and sha256 (window-spool.ts). The spool file is
 * deleted only once a HEAD on the uploaded object reports the same size and ETag; when the upload
 * fails the file stays, so the miner can retry it (`retryPending`) while the window's deadline
 * allows. An uploaded object that fails that check is deleted from the bucket, so a validator
 * never reads it; a spooled file found after a restart is verified before it is uploaded.
 */
import { rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { RolloutRecord } from "@grail/protocol";
import { MAX_ROLLOUT_FILE_SIZE_BYTES, MIN_ROLLOUT_FILE_SIZE_BYTES } from "@grail/protocol";
import type { WindowStoreWriter } from "./directory-store.js";
import {
  SpoolFileCorruptError,
  StorageError,
  TransferError,
  UploadDeadlineError,
  WindowFileSizeError,
} from "./errors.js";
import { type WindowFileCodec, windowFileMetadata, windowObjectKey, writeWindowFile } from "./window-file.js";
import {
  quarantineSpoolFile,
  readSpoolEntries,
  type SpoolEntry,
  sealSpoolEntry,
  sidecarPath,
  verifySpoolEntry,
} from "./window-spool.js";

/**
 * The upload failed. The message says what became of the object in the bucket and of the local
 * file: kept at `spoolPath` (retryable while the deadline allows) or moved to `quarantinedPath`.
 */
export class WindowUploadError extends StorageError {
  /** The failure and the bucket's side of it, without the local file's fate (for callers that then delete it). */
  readonly summary: string;

  constructor(
    readonly key: string,
    readonly spoolPath: string,
    readonly deadlinePassed: boolean,
    cause: unknown,
    /** What became of the object in the bucket, as a clause. */
    readonly remote: string = "the store keeps no partial object",
    /** Where the local file was moved after failing verification; null while it is at spoolPath. */
    readonly quarantinedPath: string | null = null,
  ) {
    const summary = `window file ${key} was not uploaded (${(cause as Error)?.message ?? String(cause)}); ${remote}`;
    const local = quarantinedPath
      ? `the local file failed verification and was moved to ${quarantinedPath}`
      : deadlinePassed
        ? `the local file is still at ${spoolPath} but its deadline has passed`
        : `the local file is kept at ${spoolPath} for a retry before its deadline`;
    super(`${summary}; ${local}`, { key, spoolPath, deadlinePassed, quarantinedPath }, { cause });
    this.summary = summary;
  }

  /** Another attempt can succeed: the local file is intact and the deadline has not passed. */
  get retryable(): boolean {
    return !this.deadlinePassed && this.quarantinedPath === null;
  }
}

export type { SpoolEntry };

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
  /** The miner's write client (its own bucket, write keys), or a directory standing in for it. */
  writer: WindowStoreWriter;
  spoolDir: string;
  codec?: WindowFileCodec;
  minFileBytes?: number;
  maxFileBytes?: number;
  now?: () => number;
}

export class WindowUploader {
  private readonly writer: WindowStoreWriter;
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
    const entry = await this.addToSpool(path, {
      hotkey: input.hotkey,
      windowStart: input.windowStart,
      deadlineMs: input.deadlineMs,
      rows: input.rows.length,
    });
    const result = await this.uploadSpooled(entry);
    return { ...result, durationMs: this.now() - started };
  }

  /**
   * Records a window file sealed at `path` (in the spool directory) for upload: its size, rows and
   * sha256 go to the sidecar, which is how a restarted miner finds and checks it.
   */
  async addToSpool(
    path: string,
    input: { hotkey: string; windowStart: number; deadlineMs: number; rows: number },
  ): Promise<SpoolEntry> {
    return sealSpoolEntry(path, input);
  }

  /**
   * Uploads one spooled file and removes it once the store confirms the object. The local file's
   * size is checked first; `verify` checks it fully against its sidecar (sha256, footer, rows),
   * which a file found after a restart needs. A file that fails is quarantined, not uploaded.
   */
  async uploadSpooled(entry: SpoolEntry, opts: { verify?: boolean } = {}): Promise<WindowUploadResult> {
    const started = this.now();
    let remote = "nothing was sent to the bucket";
    try {
      if (this.now() >= entry.deadlineMs) {
        throw new UploadDeadlineError(this.writer.bucket, entry.key, entry.deadlineMs, 0);
      }
      if (opts.verify) await verifySpoolEntry(entry);
      else {
        const size = (await stat(entry.path)).size;
        if (size !== entry.size) {
          throw new SpoolFileCorruptError(
            `spooled file ${entry.path} failed verification: it is ${size} bytes, ${entry.size} were sealed`,
            { path: entry.path, key: entry.key },
          );
        }
      }
      remote = "the store keeps no partial object";
      const up = await this.writer.uploadFile(entry.path, entry.key, {
        deadlineMs: entry.deadlineMs,
        contentType: "application/octet-stream",
      });
      remote = `the object s3://${this.writer.bucket}/${entry.key} was uploaded but could not be checked; a retry overwrites it`;
      const head = await this.writer.head(entry.key, {
        deadlineMs: Math.max(entry.deadlineMs, this.now() + 10_000),
      });
      const problem = !head
        ? "HEAD reports no object"
        : head.size !== entry.size
          ? `HEAD reports ${head.size} bytes, expected ${entry.size}`
          : head.etag && up.etag && unquote(head.etag) !== unquote(up.etag)
            ? `HEAD reports ETag ${head.etag}, the upload returned ${up.etag}`
            : null;
      if (!head || problem !== null) {
        remote = head ? await this.deleteUnconfirmed(entry.key) : "the bucket holds no object under that key";
        throw new TransferError(`upload of ${entry.key} not confirmed: ${problem}`, {
          key: entry.key,
          expected: entry.size,
          actual: head?.size ?? null,
        });
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
      const quarantined =
        err instanceof SpoolFileCorruptError
          ? await quarantineSpoolFile(this.spoolDir, entry.path, this.now())
          : null;
      throw new WindowUploadError(
        entry.key,
        entry.path,
        this.now() >= entry.deadlineMs,
        err,
        remote,
        quarantined,
      );
    }
  }

  /** Deletes an object that failed the post-upload check, so no validator reads it; returns what happened. */
  private async deleteUnconfirmed(key: string): Promise<string> {
    const where = `s3://${this.writer.bucket}/${key}`;
    try {
      await this.writer.delete(key);
      return `the object ${where} was deleted`;
    } catch (err) {
      return `the object ${where} could not be deleted (${(err as Error).message}) and may still be in the bucket`;
    }
  }

  /** Spooled files whose upload has not been confirmed, oldest window first (not yet verified). */
  async pendingSpool(): Promise<Array<SpoolEntry & { expired: boolean }>> {
    const entries = await readSpoolEntries(this.spoolDir);
    return entries
      .map((e) => ({ ...e, expired: this.now() >= e.deadlineMs }))
      .sort((a, b) => a.windowStart - b.windowStart);
  }

  /**
   * Verifies and uploads every pending file whose deadline has not passed (files left by an
   * earlier process); returns per-file outcomes. A file that fails verification is quarantined.
   */
  async retryPending(): Promise<Array<{ entry: SpoolEntry; result?: WindowUploadResult; error?: unknown }>> {
    const outcomes: Array<{ entry: SpoolEntry; result?: WindowUploadResult; error?: unknown }> = [];
    for (const entry of await this.pendingSpool()) {
      if (entry.expired) continue;
      try {
        outcomes.push({ entry, result: await this.uploadSpooled(entry, { verify: true }) });
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

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, "").toLowerCase();
}
