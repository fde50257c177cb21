/**
 * zstd for delta payloads (`delta_sparse.bin.zst`, one level-1 frame written by
 * python-zstandard, which records the content size in the frame header) and for window file
 * pages (window-file-codecs).
 *
 * Decoding uses the reference zstd library compiled to WebAssembly when the frame
 * declares a content size that fits comfortably in wasm32 memory (about 3x faster than
 * pure JS here), and the pure-JS fzstd decoder otherwise (unknown size, huge payloads,
 * several frames). Both are npm packages without install scripts, so nothing is built
 * or downloaded at install time.
 */
import * as zstdWasm from "@bokuweb/zstd-wasm";
import * as fzstd from "fzstd";
import { DeltaFormatError } from "./errors.js";

const ZSTD_MAGIC = 0xfd2fb528;
const WASM_MAX_CONTENT_BYTES = 1024 * 1024 * 1024;

let wasmReady: Promise<void> | undefined;
/** Compiles the WebAssembly module once; after it resolves, `zstdWasm.compress` may be called. */
export function ensureZstd(): Promise<void> {
  wasmReady ??= zstdWasm.init();
  return wasmReady;
}

/** The frame's declared content size, or null when absent (or not a zstd frame). */
export function zstdFrameContentSize(buf: Uint8Array): number | null {
  if (buf.byteLength < 6) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, true) !== ZSTD_MAGIC) return null;
  const fhd = buf[4]!;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd >>> 5) & 1;
  const dictFlag = fhd & 3;
  const pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictFlag]!;
  const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  if (fcsSize === 0 || pos + fcsSize > buf.byteLength) return null;
  switch (fcsSize) {
    case 1:
      return buf[pos]!;
    case 2:
      return dv.getUint16(pos, true) + 256;
    case 4:
      return dv.getUint32(pos, true);
    default: {
      const v = dv.getBigUint64(pos, true);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
    }
  }
}

/**
 * Decompresses one or more zstd frames. With `maxBytes`, a payload that declares or produces more
 * is refused before it is allocated (a frame without a declared size is decoded block by block).
 */
export async function zstdDecompress(
  buf: Uint8Array,
  what = "zstd payload",
  maxBytes?: number,
): Promise<Uint8Array> {
  const declared = zstdFrameContentSize(buf);
  if (
    declared === null &&
    (buf.byteLength < 4 || new DataView(buf.buffer, buf.byteOffset).getUint32(0, true) !== ZSTD_MAGIC)
  ) {
    throw new DeltaFormatError(`${what} is not a zstd frame (bad magic number)`, { what });
  }
  if (maxBytes !== undefined && declared !== null && declared > maxBytes) {
    throw new DeltaFormatError(`${what} declares ${declared} bytes, more than the ${maxBytes} expected`, {
      what,
    });
  }
  if (maxBytes !== undefined && declared === null) return boundedDecompress(buf, what, maxBytes);
  if (declared !== null && declared <= WASM_MAX_CONTENT_BYTES) {
    await ensureZstd();
    try {
      const out = zstdWasm.decompress(buf);
      if (out.byteLength === declared) return out;
    } catch {
      // Fall through to fzstd, which also handles concatenated frames, and reports errors precisely.
    }
  }
  try {
    const out = fzstd.decompress(buf);
    if (declared !== null && out.byteLength < declared) {
      throw new Error(`decoded ${out.byteLength} bytes, frame declares ${declared}`);
    }
    return out;
  } catch (err) {
    throw new DeltaFormatError(
      `${what} is corrupt or truncated: ${(err as Error).message}`,
      { what },
      { cause: err },
    );
  }
}

/** A frame without a declared size, decoded block by block and stopped past `maxBytes`. */
function boundedDecompress(buf: Uint8Array, what: string, maxBytes: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    new fzstd.Decompress((chunk) => {
      total += chunk.byteLength;
      if (total > maxBytes) throw new Error(`decodes to more than the ${maxBytes} bytes expected`);
      chunks.push(chunk.slice());
    }).push(buf, true);
  } catch (err) {
    throw new DeltaFormatError(
      `${what} is corrupt or too large: ${(err as Error).message}`,
      { what },
      { cause: err },
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Level-1 single frame with the content size recorded, as the trainer writes. */
export async function zstdCompress(data: Uint8Array, level = 1): Promise<Uint8Array> {
  await ensureZstd();
  return zstdWasm.compress(data, level);
}
