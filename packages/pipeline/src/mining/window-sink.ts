import { rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@grail/log";
import {
  MAX_ROLLOUT_FILE_SIZE_BYTES,
  MIN_ROLLOUT_FILE_SIZE_BYTES,
  type RolloutRecord,
} from "@grail/protocol";
import {
  type SpoolEntry,
  type WindowFileCodec,
  WindowUploadError,
  type WindowUploader,
  windowFileMetadata,
  windowObjectKey,
} from "@grail/storage";
import type { WindowFileWriter } from "./window-writer.js";

export interface WindowUploadOutcome {
  windowStart: number;
  status: "uploaded" | "failed";
  rows: number;
  /** File size in bytes, once written. */
  size: number | null;
  key: string;
  /** Write + upload time of this attempt (the upload EMA's sample when it succeeded). */
  durationMs: number;
  writeMs: number;
  error?: string;
  /** True when the first attempt failed and the spooled file is being retried until the deadline. */
  retrying: boolean;
  /**
   * Settles with the window's final outcome: equal to this one unless the first attempt failed
   * and the spooled file is being retried until the deadline.
   */
  final: Promise<WindowUploadOutcome>;
}

/**
 * Where a window's packaged rows go. The miner adds rows as groups finish (so a later failure in
 * the window cannot lose them), then publishes once. Implementations: the spooling S3 sink below;
 * a local network can plug in its own.
 */
export interface WindowSink {
  add(windowStart: number, rows: RolloutRecord[]): void;
  discard(windowStart: number): void;
  publish(
    windowStart: number,
    input: { hotkey: string; deadlineMs: number; timestampSeconds: number },
  ): Promise<WindowUploadOutcome>;
  /**
   * Verifies and uploads spooled files left by an earlier run whose deadline has not passed (a
   * file that fails verification is quarantined), drops the rest.
   */
  recoverSpool(): Promise<{ retried: number; uploaded: number; discarded: number; quarantined: number }>;
  /** Resolves when no background retry is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface SpoolingWindowSinkOptions {
  writer: WindowFileWriter;
  uploader: WindowUploader;
  codec?: WindowFileCodec;
  /** Pause between retries of a spooled file after a failed upload. Default 2 s. */
  retryIntervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

/**
 * The window file goes to the uploader's spool (written by the writer thread), then to the
 * miner's bucket. A failed upload is a failure (never counted as success) and the spooled file is
 * kept and retried in the background until the window's deadline, then removed: validators
 * ignore late files. A spooled file that no longer matches what was sealed is quarantined by the
 * uploader and not retried. Every error says what became of the spooled file.
 */
export class SpoolingWindowSink implements WindowSink {
  private readonly retries = new Set<Promise<unknown>>();
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: SpoolingWindowSinkOptions) {
    this.now = options.now ?? Date.now;
  }

  add(windowStart: number, rows: RolloutRecord[]): void {
    const { codec } = this.options;
    this.options.writer.append(windowStart, rows, {
      dir: this.options.uploader.spoolDir,
      ...(codec ? { codec } : {}),
    });
  }

  discard(windowStart: number): void {
    this.options.writer.discard(windowStart);
  }

  async publish(
    windowStart: number,
    input: { hotkey: string; deadlineMs: number; timestampSeconds: number },
  ): Promise<WindowUploadOutcome> {
    const started = this.now();
    const { uploader, writer } = this.options;
    const key = windowObjectKey(input.hotkey, windowStart);
    const path = join(uploader.spoolDir, basename(key));
    const base = { windowStart, key };
    let written: Awaited<ReturnType<WindowFileWriter["finish"]>>;
    try {
      written = await writer.finish(windowStart, {
        path,
        metadata: windowFileMetadata({
          hotkey: input.hotkey,
          windowStart,
          rowCount: 0,
          timestampSeconds: input.timestampSeconds,
        }),
        ...(this.options.codec ? { codec: this.options.codec } : {}),
      });
    } catch (err) {
      return this.settled({
        ...base,
        status: "failed",
        rows: 0,
        size: null,
        durationMs: this.now() - started,
        writeMs: 0,
        error: (err as Error).message,
      });
    }
    if (written.rejectedRows > 0) {
      this.options.logger?.error("rows refused by the window file writer were left out of the file", {
        window: windowStart,
        rows: written.rejectedRows,
        reason: written.rejectedReason,
      });
    }
    const common = { ...base, rows: written.rows, size: written.size, writeMs: written.writeMs };
    if (written.size < MIN_ROLLOUT_FILE_SIZE_BYTES || written.size > MAX_ROLLOUT_FILE_SIZE_BYTES) {
      await rm(path, { force: true });
      return this.settled({
        ...common,
        status: "failed",
        durationMs: this.now() - started,
        error: `window file is ${written.size} bytes, outside the [${MIN_ROLLOUT_FILE_SIZE_BYTES}, ${MAX_ROLLOUT_FILE_SIZE_BYTES}] validators accept; not uploaded`,
      });
    }
    let entry: SpoolEntry;
    try {
      // Its sidecar (size, rows, sha256) is how a restarted miner finds and checks the file.
      entry = await uploader.addToSpool(path, {
        hotkey: input.hotkey,
        windowStart,
        // Whole milliseconds: the store's timers refuse fractions.
        deadlineMs: Math.floor(input.deadlineMs),
        rows: written.rows,
      });
    } catch (err) {
      await rm(path, { force: true });
      return this.settled({
        ...common,
        status: "failed",
        durationMs: this.now() - started,
        error: `window file ${key} could not be recorded in the spool (${(err as Error).message}); the spooled file ${path} was deleted`,
      });
    }
    try {
      await uploader.uploadSpooled(entry);
      return this.settled({ ...common, status: "uploaded", durationMs: this.now() - started });
    } catch (err) {
      const first: Omit<WindowUploadOutcome, "final" | "retrying"> = {
        ...common,
        status: "failed",
        durationMs: this.now() - started,
        error: (err as Error).message,
      };
      if (!(err instanceof WindowUploadError) || !err.retryable || this.closed) {
        return this.settled({ ...first, error: await this.giveUp(entry, err) });
      }
      this.options.logger?.warn("window upload failed; the spooled file is retried until the deadline", {
        window: windowStart,
        key,
        spool: path,
        deadlineInMs: entry.deadlineMs - this.now(),
        error: err.message,
      });
      const final = this.retryUntilDeadline(entry, first, started, err);
      return { ...first, retrying: true, final };
    }
  }

  private settled(outcome: Omit<WindowUploadOutcome, "final" | "retrying">): WindowUploadOutcome {
    const full = { ...outcome, retrying: false } as WindowUploadOutcome;
    full.final = Promise.resolve(full);
    return full;
  }

  private retryUntilDeadline(
    entry: SpoolEntry,
    first: Omit<WindowUploadOutcome, "final" | "retrying">,
    started: number,
    firstError: WindowUploadError,
  ): Promise<WindowUploadOutcome> {
    const interval = this.options.retryIntervalMs ?? 2_000;
    const run = (async (): Promise<WindowUploadOutcome> => {
      let last: unknown = firstError;
      while (!this.closed && this.now() < entry.deadlineMs) {
        // Near the deadline, retry more often: a store back with a second to spare still counts.
        const left = entry.deadlineMs - this.now();
        await sleep(Math.min(interval, Math.max(100, left / 4), Math.max(0, left)));
        if (this.closed || this.now() >= entry.deadlineMs) break;
        try {
          await this.options.uploader.uploadSpooled(entry);
          const ok = { ...first, status: "uploaded" as const, durationMs: this.now() - started };
          delete ok.error;
          this.options.logger?.notice("window upload succeeded on retry", {
            window: entry.windowStart,
            key: entry.key,
          });
          return this.settled(ok);
        } catch (err) {
          last = err;
          if (!(err instanceof WindowUploadError) || !err.retryable) break;
        }
      }
      const quarantined = last instanceof WindowUploadError && last.quarantinedPath !== null;
      const text = await this.giveUp(entry, last);
      return this.settled({
        ...first,
        durationMs: this.now() - started,
        error: quarantined ? text : `not uploaded before the deadline: ${text}`,
      });
    })();
    this.retries.add(run);
    void run.finally(() => this.retries.delete(run));
    return run;
  }

  /**
   * Stops trying to upload a spooled file: removes it unless the uploader already quarantined it,
   * and returns the error text, which says which of the two happened.
   */
  private async giveUp(entry: SpoolEntry, err: unknown): Promise<string> {
    if (err instanceof WindowUploadError && err.quarantinedPath !== null) return err.message;
    await rm(entry.path, { force: true });
    await rm(`${entry.path}.json`, { force: true });
    const why = this.closed
      ? "the miner is stopping"
      : this.now() >= entry.deadlineMs
        ? "its deadline has passed and validators ignore late files"
        : "the failure is not one a retry can fix";
    const summary =
      err instanceof WindowUploadError
        ? err.summary
        : `window file ${entry.key} was not uploaded (${(err as Error)?.message ?? String(err)})`;
    return `${summary}; the spooled file ${entry.path} was deleted because ${why}`;
  }

  async recoverSpool(): Promise<{
    retried: number;
    uploaded: number;
    discarded: number;
    quarantined: number;
  }> {
    const { uploader, logger } = this.options;
    const partials = await this.options.writer.removeStalePartials(uploader.spoolDir);
    const discarded = (await uploader.discardExpired()).length + partials;
    const outcomes = await uploader.retryPending();
    let quarantined = 0;
    for (const { entry, error } of outcomes) {
      if (!error) continue;
      const window = entry.windowStart;
      if (error instanceof WindowUploadError && error.quarantinedPath !== null) {
        quarantined++;
        logger?.warn(
          "a window file left in the spool failed verification and was quarantined, not uploaded",
          {
            window,
            key: entry.key,
            quarantined: error.quarantinedPath,
            error: error.message,
          },
        );
      } else if (error instanceof WindowUploadError && error.retryable && !this.closed) {
        logger?.warn(
          "a window file left in the spool could not be uploaded; it is retried until the deadline",
          {
            window,
            error: error.message,
          },
        );
        const first = { windowStart: window, key: entry.key, status: "failed" as const, rows: entry.rows };
        const retry = this.retryUntilDeadline(
          entry,
          { ...first, size: entry.size, durationMs: 0, writeMs: 0, error: error.message },
          this.now(),
          error,
        );
        void retry.then((o) => {
          if (o.error)
            logger?.warn("a window file left in the spool was not uploaded", { window, error: o.error });
        });
      } else {
        logger?.warn("a window file left in the spool could not be uploaded", {
          window,
          error: await this.giveUp(entry, error),
        });
      }
    }
    const uploaded = outcomes.filter((o) => o.result).length;
    return { retried: outcomes.length, uploaded, discarded, quarantined };
  }

  async idle(): Promise<void> {
    while (this.retries.size > 0) await Promise.allSettled([...this.retries]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}
