import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import PQueue from "p-queue";
import { TransferError } from "./errors.js";
import type { ObjectInfo, TransferOptions } from "./object-store-types.js";
import { planTransfer, splitRanges, type TransferTuning } from "./transfer-plan.js";

/** What a resumable download reads through (an ObjectStoreClient). */
export interface RangeSource {
  readonly bucket: string;
  headWithGzipProbe(key: string, opts?: TransferOptions): Promise<ObjectInfo & { gzipped: boolean }>;
  getBytes(key: string, opts?: TransferOptions & { range?: [number, number] }): Promise<Buffer>;
}

/**
 * Streams an object into `destPath` atomically (written to `<dest>.part`, renamed when
 * complete) and resumably: a `<dest>.part` left by an interrupted run for the same
 * object (same key, size and ETag, recorded in `<dest>.part.json`) is continued with a
 * Range request from its current size instead of starting over.
 *
 * Ranges are fetched at most `maxBufferedBytes / part size` at a time.
 */
export async function downloadObjectToFile(
  source: RangeSource,
  tuning: TransferTuning,
  maxBufferedBytes: number,
  key: string,
  destPath: string,
  opts: TransferOptions = {},
): Promise<{ sourceKey: string; gzipped: boolean; size: number; resumedFrom: number }> {
  const info = await source.headWithGzipProbe(key, opts);
  const sourceKey = info.gzipped ? `${key}.gz` : key;
  const staging = `${destPath}.part`;
  const sidecar = `${destPath}.part.json`;
  await mkdir(dirname(destPath), { recursive: true });
  const identity = { bucket: source.bucket, key: sourceKey, size: info.size, etag: info.etag ?? null };
  let resumeFrom = 0;
  try {
    const previous = JSON.parse(await readFile(sidecar, "utf8")) as typeof identity;
    const partial = await stat(staging);
    if (
      previous.bucket === identity.bucket &&
      previous.key === identity.key &&
      previous.size === identity.size &&
      previous.etag === identity.etag &&
      partial.size <= info.size
    ) {
      resumeFrom = partial.size;
    }
  } catch {
    resumeFrom = 0;
  }
  if (resumeFrom === 0) {
    await rm(staging, { force: true });
    await writeFile(sidecar, JSON.stringify(identity));
  }

  const plan = planTransfer(info.size - resumeFrom, tuning);
  const partSize = plan.kind === "single" ? Math.max(1, info.size - resumeFrom) : plan.partSize;
  const concurrency =
    plan.kind === "single"
      ? 1
      : Math.max(1, Math.min(plan.concurrency, Math.floor(maxBufferedBytes / partSize)));
  const ranges = splitRanges(info.size, partSize, resumeFrom);
  const handle = await open(staging, resumeFrom === 0 ? "w" : "a");
  const queue = new PQueue({ concurrency });
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  try {
    // Ranges are fetched concurrently but appended strictly in order, so the staging
    // file is always a contiguous prefix of the object: its size is the resume point.
    const pending = ranges.map((r) =>
      queue.add(() => source.getBytes(sourceKey, { ...opts, signal, range: [r.start, r.end] }), {
        throwOnTimeout: true,
      }),
    );
    for (const p of pending) p.catch(() => undefined);
    for (const p of pending) {
      const chunk = await p;
      await handle.write(chunk);
    }
  } catch (err) {
    queue.clear();
    stop.abort();
    throw err;
  } finally {
    await handle.close();
  }
  const written = (await stat(staging)).size;
  if (written !== info.size) {
    throw new TransferError(
      `download of s3://${source.bucket}/${sourceKey} wrote ${written} of ${info.size} bytes; run again to resume`,
      { key: sourceKey, path: staging },
    );
  }
  if (info.gzipped) {
    const tmp = `${destPath}.gunzip`;
    await pipeline(createReadStream(staging), createGunzip(), createWriteStream(tmp));
    await rename(tmp, destPath);
    await rm(staging, { force: true });
  } else {
    await rename(staging, destPath);
  }
  await rm(sidecar, { force: true });
  return { sourceKey, gzipped: info.gzipped, size: info.size, resumedFrom: resumeFrom };
}
