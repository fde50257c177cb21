/**
 * The trainer's sparse delta codec (spec/miner-pipeline.md §6.6): `delta_sparse.bin.zst`
 * = zstd( u32 LE header_len ‖ compact JSON header ‖ data ), header
 * `{"version": 2 | 3 | 31, "tensors": [meta, …]}` sorted by name. Values are the new
 * absolute values at changed positions, so applying a delta is pure assignment.
 *
 * - v2: flat indices, sorted, delta-encoded int32 (prefix sum decodes).
 * - v3: (row, col) pairs sorted; rows delta-encoded; cols absolute at each row change
 *   (and at k = 0), otherwise the difference to the previous col. int32 both.
 * - v3.1: v3 with per-tensor `row_dtype` (uint8/uint16/int32) and `col_dtype`
 *   (uint16/int32); absent keys mean int32.
 *
 * Decoding validates every offset and size against the payload, so a truncated or
 * inconsistent delta is reported instead of silently producing wrong weights.
 */
import { codecNameFromDtype, type Dtype, dtypeFromCodecName, dtypeSize } from "./dtype.js";
import { DeltaFormatError } from "./errors.js";
import { numel } from "./safetensors.js";
import { zstdCompress, zstdDecompress } from "./zstd.js";

export type SparseCodecVersion = 2 | 3 | 31;
export type SparseCodecFormat = "sparse_codec_v2" | "sparse_codec_v3" | "sparse_codec_v3.1";

export const FORMAT_VERSION: Record<SparseCodecFormat, SparseCodecVersion> = {
  sparse_codec_v2: 2,
  sparse_codec_v3: 3,
  "sparse_codec_v3.1": 31,
};

export interface SparseTensorUpdate {
  name: string;
  /** Shape from the payload header (it supersedes delta_metadata.json). */
  shape: number[];
  valueDtype: Dtype;
  /** Element positions in row-major order (row·cols + col), one per value. */
  positions: Float64Array;
  /** Raw little-endian values, `valueDtype` elements, aligned with `positions`. */
  values: Uint8Array;
}

interface TensorMeta {
  name: string;
  shape: number[];
  num_nonzero: number;
  value_dtype: string;
  row_dtype?: string;
  col_dtype?: string;
  indices_offset: number;
  indices_size: number;
  rows_size?: number;
  cols_size?: number;
  values_offset: number;
  values_size: number;
}

const INDEX_SIZES: Record<string, number> = { uint8: 1, uint16: 2, int32: 4 };

function colsPerRow(shape: readonly number[]): number {
  return shape.length <= 1 ? 1 : Math.max(1, numel(shape.slice(1)));
}

function readIndexArray(
  bytes: Uint8Array,
  dtype: string,
  count: number,
  what: string,
): Int32Array | Uint8Array | Uint16Array {
  const size = INDEX_SIZES[dtype];
  if (size === undefined) throw new DeltaFormatError(`${what}: unknown index dtype ${dtype}`, { dtype });
  if (bytes.byteLength !== count * size) {
    throw new DeltaFormatError(`${what}: ${bytes.byteLength} index bytes for ${count} ${dtype} entries`, {
      what,
    });
  }
  // Copy so typed-array alignment holds whatever the offset inside the payload.
  const copy = new Uint8Array(bytes);
  if (size === 1) return copy;
  if (size === 2) return new Uint16Array(copy.buffer, 0, count);
  return new Int32Array(copy.buffer, 0, count);
}

/** Decodes a decompressed payload into per-tensor updates. */
export function decodeSparsePayload(payload: Uint8Array, expected: SparseCodecVersion): SparseTensorUpdate[] {
  if (payload.byteLength < 4)
    throw new DeltaFormatError("delta payload is shorter than its header length", {});
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const headerLen = dv.getUint32(0, true);
  if (4 + headerLen > payload.byteLength) {
    throw new DeltaFormatError(`delta payload is truncated: header of ${headerLen} bytes does not fit`, {
      headerLen,
    });
  }
  let header: { version?: unknown; tensors?: unknown };
  try {
    header = JSON.parse(Buffer.from(payload.subarray(4, 4 + headerLen)).toString("utf8"));
  } catch (err) {
    throw new DeltaFormatError("delta header is not valid JSON", {}, { cause: err });
  }
  if (header.version !== expected) {
    throw new DeltaFormatError(
      `delta payload version ${String(header.version)} does not match format (expected ${expected})`,
      {
        version: header.version,
        expected,
      },
    );
  }
  const metas = (Array.isArray(header.tensors) ? header.tensors : []) as TensorMeta[];
  const data = payload.subarray(4 + headerLen);
  const slice = (offset: number, size: number, what: string): Uint8Array => {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(size) ||
      offset < 0 ||
      size < 0 ||
      offset + size > data.byteLength
    ) {
      throw new DeltaFormatError(
        `delta payload is truncated: ${what} [${offset}, +${size}) exceeds ${data.byteLength} data bytes`,
        {
          what,
          offset,
          size,
        },
      );
    }
    return data.subarray(offset, offset + size);
  };

  return metas.map((m) => {
    const what = `tensor ${m.name}`;
    if (typeof m.name !== "string" || !Array.isArray(m.shape) || !Number.isSafeInteger(m.num_nonzero)) {
      throw new DeltaFormatError(`delta header entry is malformed: ${JSON.stringify(m).slice(0, 200)}`, {});
    }
    const nnz = m.num_nonzero;
    const valueDtype = dtypeFromCodecName(m.value_dtype);
    const values = slice(m.values_offset, m.values_size, `${what} values`);
    if (values.byteLength !== nnz * dtypeSize(valueDtype)) {
      throw new DeltaFormatError(
        `${what}: ${values.byteLength} value bytes for ${nnz} ${m.value_dtype} values`,
        { name: m.name },
      );
    }
    const total = numel(m.shape);
    const positions = new Float64Array(nnz);
    if (expected === 2) {
      const idx = readIndexArray(
        slice(m.indices_offset, m.indices_size, `${what} indices`),
        "int32",
        nnz,
        what,
      );
      let acc = 0;
      for (let k = 0; k < nnz; k++) {
        acc += idx[k]!;
        positions[k] = acc;
      }
    } else {
      const rowsSize = m.rows_size ?? Number.NaN;
      const colsSize = m.cols_size ?? Number.NaN;
      const rowsBytes = slice(m.indices_offset, rowsSize, `${what} rows`);
      const colsBytes = slice(m.indices_offset + rowsSize, colsSize, `${what} cols`);
      const rowDtype = expected === 31 ? (m.row_dtype ?? "int32") : "int32";
      const colDtype = expected === 31 ? (m.col_dtype ?? "int32") : "int32";
      const rowsDelta = readIndexArray(rowsBytes, rowDtype, nnz, `${what} rows`);
      const colsDelta = readIndexArray(colsBytes, colDtype, nnz, `${what} cols`);
      const cols = colsPerRow(m.shape);
      const rows = m.shape.length === 0 ? 1 : m.shape[0]!;
      let row = 0;
      let col = 0;
      for (let k = 0; k < nnz; k++) {
        const dr = rowsDelta[k]!;
        row += dr;
        col = k === 0 || dr !== 0 ? colsDelta[k]! : col + colsDelta[k]!;
        if (row < 0 || row >= rows || col < 0 || col >= cols) {
          throw new DeltaFormatError(`${what}: index (${row}, ${col}) outside shape [${m.shape}]`, {
            name: m.name,
            row,
            col,
          });
        }
        positions[k] = row * cols + col;
      }
    }
    for (let k = 0; k < nnz; k++) {
      const p = positions[k]!;
      if (p < 0 || p >= total) {
        throw new DeltaFormatError(`${what}: position ${p} outside ${total} elements`, {
          name: m.name,
          position: p,
        });
      }
    }
    return { name: m.name, shape: [...m.shape], valueDtype, positions, values: new Uint8Array(values) };
  });
}

/** Decompresses and decodes `delta_sparse.bin.zst` for the given `delta_metadata.json` format. */
export async function decodeSparseDelta(
  compressed: Uint8Array,
  format: string,
): Promise<SparseTensorUpdate[]> {
  const version = FORMAT_VERSION[format as SparseCodecFormat];
  if (version === undefined) {
    throw new DeltaFormatError(
      `unsupported delta format ${JSON.stringify(format)}; supported: ${Object.keys(FORMAT_VERSION).join(", ")}`,
      { format },
    );
  }
  if (compressed.byteLength === 0) return [];
  const payload = await zstdDecompress(compressed, "delta_sparse.bin.zst");
  return decodeSparsePayload(payload, version);
}

// ------------------------------------------------------------------ encoder

export interface SparseTensorInput {
  name: string;
  shape: number[];
  valueDtype: Dtype;
  /** Changed positions (row-major), any order; values aligned with them. */
  positions: ArrayLike<number>;
  values: Uint8Array;
}

function pickIndexDtype(values: Int32Array, preferUint8: boolean): "uint8" | "uint16" | "int32" {
  if (values.length === 0) return "uint8";
  let min = 0;
  let max = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min < 0) return "int32";
  if (preferUint8 && max <= 0xff) return "uint8";
  if (max <= 0xffff) return "uint16";
  return "int32";
}

function packIndex(values: Int32Array, dtype: "uint8" | "uint16" | "int32"): Uint8Array {
  if (dtype === "uint8") return Uint8Array.from(values);
  if (dtype === "uint16") return new Uint8Array(Uint16Array.from(values).buffer);
  return new Uint8Array(values.slice().buffer);
}

/** Builds the uncompressed payload exactly as the trainer's encoder lays it out. */
export function encodeSparsePayload(
  updates: readonly SparseTensorInput[],
  version: SparseCodecVersion,
): Uint8Array {
  const metas: TensorMeta[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const sorted = [...updates]
    .filter((u) => u.positions.length > 0)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const u of sorted) {
    const n = u.positions.length;
    const size = dtypeSize(u.valueDtype);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => u.positions[a]! - u.positions[b]!);
    const values = new Uint8Array(n * size);
    order.forEach((src, dst) => {
      values.set(u.values.subarray(src * size, (src + 1) * size), dst * size);
    });
    const valueName = codecNameFromDtype(u.valueDtype);
    if (version === 2) {
      const deltas = new Int32Array(n);
      let prev = 0;
      order.forEach((src, k) => {
        const p = u.positions[src]!;
        deltas[k] = p - prev;
        prev = p;
      });
      const idx = new Uint8Array(deltas.buffer);
      metas.push({
        name: u.name,
        shape: u.shape,
        num_nonzero: n,
        value_dtype: valueName,
        indices_offset: offset,
        indices_size: idx.byteLength,
        values_offset: offset + idx.byteLength,
        values_size: values.byteLength,
      });
      chunks.push(idx, values);
      offset += idx.byteLength + values.byteLength;
      continue;
    }
    const cols = colsPerRow(u.shape);
    const rowsDelta = new Int32Array(n);
    const colsDelta = new Int32Array(n);
    let prevRow = 0;
    let prevCol = 0;
    order.forEach((src, k) => {
      const p = u.positions[src]!;
      const row = Math.floor(p / cols);
      const col = p - row * cols;
      rowsDelta[k] = row - prevRow;
      colsDelta[k] = k === 0 || row !== prevRow ? col : col - prevCol;
      prevRow = row;
      prevCol = col;
    });
    const rowDtype = version === 31 ? pickIndexDtype(rowsDelta, true) : "int32";
    const colDtype = version === 31 ? pickIndexDtype(colsDelta, false) : "int32";
    const rowsBytes = packIndex(rowsDelta, rowDtype);
    const colsBytes = packIndex(colsDelta, colDtype);
    const indicesSize = rowsBytes.byteLength + colsBytes.byteLength;
    metas.push({
      name: u.name,
      shape: u.shape,
      num_nonzero: n,
      value_dtype: valueName,
      ...(version === 31 ? { row_dtype: rowDtype, col_dtype: colDtype } : {}),
      indices_offset: offset,
      indices_size: indicesSize,
      rows_size: rowsBytes.byteLength,
      cols_size: colsBytes.byteLength,
      values_offset: offset + indicesSize,
      values_size: values.byteLength,
    });
    chunks.push(rowsBytes, colsBytes, values);
    offset += indicesSize + values.byteLength;
  }
  const header = Buffer.from(JSON.stringify({ version, tensors: metas }), "utf8");
  const out = new Uint8Array(4 + header.byteLength + offset);
  new DataView(out.buffer).setUint32(0, header.byteLength, true);
  out.set(header, 4);
  let pos = 4 + header.byteLength;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.byteLength;
  }
  return out;
}

export async function encodeSparseDelta(
  updates: readonly SparseTensorInput[],
  format: SparseCodecFormat,
): Promise<Uint8Array> {
  return zstdCompress(encodeSparsePayload(updates, FORMAT_VERSION[format]), 1);
}
