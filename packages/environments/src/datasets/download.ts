import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DatasetFetchError, DatasetIntegrityError } from "../errors.js";
import type { DatasetId } from "./catalog.js";
import { describeNetworkError, type HubClient, type HubFile } from "./hub.js";

/**
 * Where a dataset's shards are downloaded to, inside the cache root:
 * `<dataDir>/datasets/.downloads/<dataset>@<commit>/<path in the repo>`, with `.part` appended while a
 * download is incomplete. Verified shards stay, so a table can be rebuilt without downloading again.
 */
export function downloadDir(dataDir: string, dataset: DatasetId, commit: string): string {
  return join(resolve(dataDir), "datasets", ".downloads", `${dataset}@${commit}`);
}

/** How much of a shard is on disk before its download starts. */
export type ShardOnDisk =
  | { readonly complete: true }
  | { readonly complete: false; readonly partBytes: number };

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/** A complete shard must have the listed size and sha256; anything else is downloaded again. */
async function verifiedFile(path: string, file: HubFile): Promise<Uint8Array | null> {
  if ((await sizeOf(path)) !== file.bytes) return null;
  const bytes = new Uint8Array(await readFile(path));
  return sha256(bytes) === file.sha256 ? bytes : null;
}

export async function shardOnDisk(path: string, file: HubFile): Promise<ShardOnDisk> {
  if ((await verifiedFile(path, file)) !== null) return { complete: true };
  const part = await sizeOf(`${path}.part`);
  return { complete: false, partBytes: part !== null && part < file.bytes ? part : 0 };
}

export interface ShardDownload {
  readonly dataset: DatasetId;
  readonly url: string;
  readonly file: HubFile;
  /** Where the verified shard is kept. */
  readonly path: string;
}

/** Attempts per shard; each continues from what the previous one left on disk. */
const ATTEMPTS = 3;

/**
 * The shard's bytes, verified against the hub's sha256: from disk when a complete copy is there,
 * else downloaded into `<path>.part`, continuing a partial file with a Range request (a server that
 * answers 200 sends the whole file instead), and renamed to `path` once verified. A dropped
 * connection is continued up to 3 times; a file whose sha256 is wrong after a full download is
 * refused with DatasetIntegrityError and removed.
 */
export async function downloadShard(
  hub: HubClient,
  d: ShardDownload,
  onBytes: (delta: number) => void = () => {},
): Promise<Uint8Array> {
  const kept = await verifiedFile(d.path, d.file);
  if (kept) return kept;
  await mkdir(dirname(d.path), { recursive: true });
  const part = `${d.path}.part`;
  let failure: DatasetFetchError | null = null;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (attempt > 1) await sleep(500 * (attempt - 1));
    let held = (await sizeOf(part)) ?? 0;
    if (held > d.file.bytes) {
      onBytes(-held);
      await rm(part, { force: true });
      held = 0;
    }
    // Whether the bytes on disk are all from this attempt's response (else an old part is in them).
    let whole = held === 0;
    try {
      if (held < d.file.bytes) {
        const got = await fetchInto(hub, d, part, held, onBytes);
        whole = got.from === 0;
        held = got.held;
      }
      if (held < d.file.bytes) {
        throw new DatasetFetchError(
          d.url,
          `the download ended after ${held} of ${d.file.bytes} bytes`,
          d.dataset,
        );
      }
    } catch (e) {
      if (!(e instanceof DatasetFetchError)) throw e;
      failure = e;
      continue;
    }
    const bytes = new Uint8Array(await readFile(part));
    const digest = sha256(bytes);
    if (digest === d.file.sha256) {
      await rename(part, d.path);
      return bytes;
    }
    onBytes(-held);
    await rm(part, { force: true });
    // A continued file may be wrong because of its old part; a whole one is what the server sends.
    if (whole || attempt === ATTEMPTS) {
      throw new DatasetIntegrityError(
        d.dataset,
        d.file.path,
        `downloaded sha256 ${digest}, the hub lists ${d.file.sha256}`,
      );
    }
  }
  throw failure as DatasetFetchError;
}

/** One request into `part` from `offset`: where the response started and what the part holds after it. */
async function fetchInto(
  hub: HubClient,
  d: ShardDownload,
  part: string,
  offset: number,
  onBytes: (delta: number) => void,
): Promise<{ from: number; held: number }> {
  // Opened before the request: once the body streams, nothing may wait on the disk before reading,
  // since a stream that errors drops the chunks it still queues.
  const out = await open(part, "a");
  try {
    const res = await hub.get(d.url, offset > 0 ? { range: `bytes=${offset}-` } : {}, [200, 206, 416]);
    if (res.status === 416 || (res.status === 206 && !contentRangeStartsAt(res, offset))) {
      // The server does not have the part's continuation: start over on the next attempt.
      await res.body?.cancel().catch(() => undefined);
      onBytes(-offset);
      await out.truncate(0);
      throw new DatasetFetchError(d.url, `the server refused to continue at byte ${offset}`, d.dataset);
    }
    const start = res.status === 200 ? 0 : offset;
    if (start !== offset) onBytes(-offset);
    let writing: Promise<unknown> = start === 0 ? out.truncate(0) : Promise.resolve();
    let received = 0;
    let broke: unknown = null;
    const reader = (res.body ?? new ReadableStream<Uint8Array>()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (start + received + value.byteLength > d.file.bytes) {
          await reader.cancel().catch(() => undefined);
          await writing.catch(() => undefined);
          onBytes(-(start + received));
          await out.truncate(0);
          throw new DatasetIntegrityError(
            d.dataset,
            d.file.path,
            `the server sent more than the ${d.file.bytes} bytes the hub lists`,
          );
        }
        // Written in order behind the reads; what arrived stays on disk for the next attempt or start.
        writing = writing.then(() => out.write(value));
        writing.catch(() => undefined);
        received += value.byteLength;
        onBytes(value.byteLength);
      }
    } catch (e) {
      if (e instanceof DatasetIntegrityError) throw e;
      broke = e;
    }
    await writing;
    const held = start + received;
    if (broke !== null) {
      throw new DatasetFetchError(
        d.url,
        `the download broke off after ${held} bytes: ${describeNetworkError(broke)}`,
        d.dataset,
      );
    }
    return { from: start, held };
  } finally {
    await out.close();
  }
}

function contentRangeStartsAt(res: Response, offset: number): boolean {
  return new RegExp(`^bytes ${offset}-\\d+/`).test(res.headers.get("content-range") ?? "");
}
