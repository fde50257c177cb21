/**
 * Page compression of window files. We write ZSTD (the reference writer's codec, at its level 1)
 * and, on request, GZIP, SNAPPY or none; we read every codec the reference's pyarrow may write:
 * ZSTD, SNAPPY, GZIP and none. A page never decompresses to more than its header declares, so a
 * hostile page cannot make the reader allocate beyond what the file itself announces.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import * as zstdWasm from "@bokuweb/zstd-wasm";
import { PARQUET_COMPRESSION_METHODS } from "@dsnp/parquetjs/dist/lib/compression.js";
import { WindowFileFormatError } from "./errors.js";
import { ensureZstd, zstdDecompress } from "./zstd.js";

export type WindowFileCodec = "ZSTD" | "GZIP" | "SNAPPY" | "UNCOMPRESSED";

/** The reference's `compression_level=1`: the fastest level, still smaller than GZIP on rollouts. */
const ZSTD_LEVEL = 1;

/** Thrift CompressionCodec values (parquet.thrift). */
export const CODEC_IDS: Record<WindowFileCodec, number> = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, ZSTD: 6 };
const CODEC_NAMES = new Map(Object.entries(CODEC_IDS).map(([name, id]) => [id, name as WindowFileCodec]));

/** Resolves once compressPage can take ZSTD (its WebAssembly module is compiled once per thread). */
export function codecReady(codec: WindowFileCodec): Promise<void> {
  return codec === "ZSTD" ? ensureZstd() : Promise.resolve();
}

/** One page body compressed with `codec`; ZSTD needs codecReady() first. */
export function compressPage(codec: WindowFileCodec, body: Buffer): Buffer {
  if (codec === "ZSTD") {
    const out = zstdWasm.compress(body, ZSTD_LEVEL);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
  if (codec === "GZIP") return gzipSync(body);
  const out = PARQUET_COMPRESSION_METHODS[codec]?.deflate(body);
  if (!Buffer.isBuffer(out)) {
    throw new WindowFileFormatError(`codec ${codec} is not supported for window files`, { codec });
  }
  return out;
}

/**
 * A page body decompressed to exactly `size` bytes (the page header's uncompressed size).
 * `where` names the column and page for the error.
 */
export async function decompressPage(
  codecId: number,
  data: Uint8Array,
  size: number,
  where: string,
): Promise<Uint8Array> {
  const codec = CODEC_NAMES.get(codecId);
  const fail = (why: string, cause?: unknown): never => {
    throw new WindowFileFormatError(
      `${where}: ${codec ?? `codec ${codecId}`} page ${why}`,
      { codec: codec ?? codecId, where },
      cause === undefined ? undefined : { cause },
    );
  };
  let out: Uint8Array;
  switch (codec) {
    case "UNCOMPRESSED":
      out = data;
      break;
    case "GZIP":
      try {
        out = gunzipSync(data, { maxOutputLength: Math.max(1, size) });
      } catch (err) {
        return fail(`does not decompress: ${(err as Error).message}`, err);
      }
      break;
    case "SNAPPY":
      out = snappyDecompress(data, size, fail);
      break;
    case "ZSTD":
      try {
        out = await zstdDecompress(data, where, size);
      } catch (err) {
        return fail(`does not decompress: ${(err as Error).message}`, err);
      }
      break;
    default:
      return fail("is not supported: window files are read with ZSTD, SNAPPY, GZIP or no compression");
  }
  if (out.byteLength !== size) fail(`decompresses to ${out.byteLength} bytes, its header says ${size}`);
  return out;
}

/**
 * Raw Snappy (the block format Parquet uses, no framing): a varint length, then literals and
 * back-references. Refuses a block that declares another length or points outside its output.
 */
export function snappyDecompress(
  src: Uint8Array,
  expected: number,
  fail: (why: string) => never = (why) => {
    throw new WindowFileFormatError(`SNAPPY block ${why}`, {});
  },
): Uint8Array {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= src.length || shift > 28) fail("has a bad length header");
    const b = src[pos++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length !== expected) fail(`declares ${length} bytes, its header ${expected}`);
  const out = new Uint8Array(length);
  let at = 0;
  while (pos < src.length) {
    const tag = src[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        if (pos + bytes > src.length) fail("is truncated");
        n = 0;
        for (let i = 0; i < bytes; i++) n += src[pos + i]! * 2 ** (8 * i);
        pos += bytes;
      }
      n += 1;
      if (pos + n > src.length || at + n > length) fail("has a literal past its end");
      out.set(src.subarray(pos, pos + n), at);
      pos += n;
      at += n;
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === 1) {
      if (pos >= src.length) fail("is truncated");
      n = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | src[pos++]!;
    } else {
      const bytes = kind === 2 ? 2 : 4;
      if (pos + bytes > src.length) fail("is truncated");
      n = (tag >>> 2) + 1;
      offset = 0;
      for (let i = 0; i < bytes; i++) offset += src[pos + i]! * 2 ** (8 * i);
      pos += bytes;
    }
    if (offset === 0 || offset > at || at + n > length) fail("has a copy outside its output");
    if (offset >= n) {
      out.copyWithin(at, at - offset, at - offset + n);
      at += n;
    } else {
      // The copy overlaps the bytes it produces (a run): byte by byte.
      for (let i = 0; i < n; i++, at++) out[at] = out[at - offset]!;
    }
  }
  if (at !== length) fail(`ends after ${at} of ${length} bytes`);
  return out;
}
