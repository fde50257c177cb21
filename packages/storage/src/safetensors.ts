/**
 * Minimal safetensors reader/writer: an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets}, "__metadata__"?: {…}}`, then raw
 * little-endian tensor bytes. Tensors are read one at a time, so a model larger than
 * Node's maximum Buffer size still loads (as separate tensors).
 *
 * The writer lays tensors out as the reference `safetensors` library does (sorted by
 * dtype descending, then by name; header padded with spaces to 8 bytes), so the same
 * state dict gives the same file.
 */
import { open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DTYPE_ORDER, type Dtype, dtypeSize, isDtype } from "./dtype.js";
import { SafetensorsFormatError } from "./errors.js";

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** Raw little-endian element bytes, row-major, contiguous. */
  data: Uint8Array;
}

/** Name → tensor, in load order (the order whose first entry decides a delta's target dtype). */
export type StateDict = Map<string, Tensor>;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Python string order (by code point), which UTF-8 byte order preserves. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

async function readHeader(path: string): Promise<{
  entries: Array<[string, HeaderEntry]>;
  dataStart: number;
  metadata: Record<string, string> | undefined;
  fileSize: number;
}> {
  const fh = await open(path, "r");
  try {
    const fileSize = (await fh.stat()).size;
    const lenBuf = Buffer.alloc(8);
    if ((await fh.read(lenBuf, 0, 8, 0)).bytesRead !== 8) {
      throw new SafetensorsFormatError(`${path} is too short to be a safetensors file`, { path });
    }
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > fileSize) {
      throw new SafetensorsFormatError(`${path} has an invalid header length ${headerLen}`, {
        path,
        headerLen,
      });
    }
    const headerBuf = Buffer.alloc(headerLen);
    await fh.read(headerBuf, 0, headerLen, 8);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(headerBuf.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new SafetensorsFormatError(`${path} has a header that is not JSON`, { path }, { cause: err });
    }
    const metadata = parsed.__metadata__ as Record<string, string> | undefined;
    const entries = Object.entries(parsed).filter(([k]) => k !== "__metadata__") as Array<
      [string, HeaderEntry]
    >;
    const dataStart = 8 + headerLen;
    for (const [name, e] of entries) {
      if (!isDtype(e.dtype) || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
        throw new SafetensorsFormatError(`${path}: tensor ${name} has an invalid header entry`, {
          path,
          name,
        });
      }
      const [begin, end] = e.data_offsets;
      if (end - begin !== numel(e.shape) * dtypeSize(e.dtype) || begin < 0 || dataStart + end > fileSize) {
        throw new SafetensorsFormatError(
          `${path}: tensor ${name} offsets [${begin}, ${end}) do not match its shape/dtype or the file size (truncated file?)`,
          { path, name },
        );
      }
    }
    return { entries, dataStart, metadata, fileSize };
  } finally {
    await fh.close();
  }
}

/** Reads every tensor of one safetensors file; names in sorted order (as `safetensors.load_file`). */
export async function readSafetensors(
  path: string,
): Promise<{ tensors: StateDict; metadata: Record<string, string> | undefined }> {
  const { entries, dataStart, metadata } = await readHeader(path);
  entries.sort(([a], [b]) => compareNames(a, b));
  const tensors: StateDict = new Map();
  const fh = await open(path, "r");
  try {
    for (const [name, e] of entries) {
      const [begin, end] = e.data_offsets;
      const data = new Uint8Array(end - begin);
      const { bytesRead } = await fh.read(data, 0, data.byteLength, dataStart + begin);
      if (bytesRead !== data.byteLength) {
        throw new SafetensorsFormatError(`${path}: short read for tensor ${name}`, { path, name });
      }
      tensors.set(name, { dtype: e.dtype as Dtype, shape: [...e.shape], data });
    }
  } finally {
    await fh.close();
  }
  return { tensors, metadata };
}

/** Serialises tensors in the reference library's layout. */
export function safetensorsLayout(
  tensors: StateDict,
  metadata?: Record<string, string>,
): { header: Buffer; order: Array<[string, Tensor]> } {
  const order = [...tensors.entries()].sort(([an, a], [bn, b]) => {
    const byDtype = DTYPE_ORDER.indexOf(b.dtype) - DTYPE_ORDER.indexOf(a.dtype);
    return byDtype !== 0 ? byDtype : compareNames(an, bn);
  });
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of order) {
    if (t.data.byteLength !== numel(t.shape) * dtypeSize(t.dtype)) {
      throw new SafetensorsFormatError(`tensor ${name} has ${t.data.byteLength} bytes for shape ${t.shape}`, {
        name,
      });
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const padded = Math.ceil(Buffer.byteLength(json) / 8) * 8;
  json += " ".repeat(padded - Buffer.byteLength(json));
  const jsonBuf = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + jsonBuf.length);
  out.writeBigUInt64LE(BigInt(jsonBuf.length), 0);
  jsonBuf.copy(out, 8);
  return { header: out, order };
}

export async function writeSafetensors(
  path: string,
  tensors: StateDict,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, order } = safetensorsLayout(tensors, metadata);
  const fh = await open(path, "w");
  try {
    await fh.write(header);
    for (const [, t] of order) await fh.write(t.data);
  } finally {
    await fh.close();
  }
}

/**
 * Loads a checkpoint directory's weights: `model.safetensors`, or the shards listed in
 * `model.safetensors.index.json` (shards in sorted file-name order, as the reference).
 */
export async function loadStateDict(dir: string): Promise<StateDict> {
  const files = new Set(await readdir(dir));
  if (files.has("model.safetensors")) return (await readSafetensors(join(dir, "model.safetensors"))).tensors;
  if (!files.has("model.safetensors.index.json")) {
    throw new SafetensorsFormatError(
      `${dir} has neither model.safetensors nor model.safetensors.index.json`,
      { dir },
    );
  }
  const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as {
    weight_map?: Record<string, string>;
  };
  if (!index.weight_map || Object.keys(index.weight_map).length === 0) {
    throw new SafetensorsFormatError(`${dir}/model.safetensors.index.json has no weight_map`, { dir });
  }
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  const state: StateDict = new Map();
  for (const shard of shards) {
    if (!files.has(shard)) {
      throw new SafetensorsFormatError(`${dir}: shard ${shard} listed in the index is missing`, {
        dir,
        shard,
      });
    }
    for (const [name, t] of (await readSafetensors(join(dir, shard))).tensors) state.set(name, t);
  }
  return state;
}
