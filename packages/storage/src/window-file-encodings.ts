/**
 * Parquet's value and level encodings as window files use them: the RLE/bit-packed hybrid (levels,
 * dictionary indices, RLE booleans), PLAIN values of the six physical types, dictionary lookups.
 * Every length and index is checked against the bytes it is read from.
 */
import thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";

export type Physical = "BOOLEAN" | "INT32" | "INT64" | "FLOAT" | "DOUBLE" | "BYTE_ARRAY";
/** Thrift Type values of the physical types window files use. */
export const PHYSICAL_TYPES: ReadonlyMap<number, Physical> = new Map([
  [0, "BOOLEAN"],
  [1, "INT32"],
  [2, "INT64"],
  [4, "FLOAT"],
  [5, "DOUBLE"],
  [6, "BYTE_ARRAY"],
]);

/** Decoded values: BOOLEAN as 0/1 bytes, BYTE_ARRAY as UTF-8 text. */
export type ColumnValues = Uint8Array | Int32Array | BigInt64Array | Float32Array | Float64Array | string[];

export const ENCODING = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, RLE_DICTIONARY: 8 } as const;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

export type Fail = (why: string) => never;

const encodingName = (id: number) =>
  Object.entries(thrift.Encoding).find(([, v]) => v === id)?.[0] ?? `encoding ${id}`;

const bitWidth = (max: number) => (max === 0 ? 0 : 32 - Math.clz32(max));

/**
 * The RLE/bit-packed hybrid (levels, dictionary indices, RLE booleans) from buf[pos, end) into
 * out[0, count); returns the position after the last run read.
 */
export function decodeHybrid(
  buf: Uint8Array,
  pos: number,
  end: number,
  width: number,
  out: Uint8Array | Uint32Array,
  fail: Fail,
): number {
  if (width > 32) fail(`has a bit width of ${width}`);
  const count = out.length;
  const byteWidth = (width + 7) >> 3;
  let n = 0;
  while (n < count) {
    let header = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= end || shift > 28) fail(`ran out of data after ${n} of ${count} values`);
      const b = buf[pos++]!;
      header += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    const runLength = Math.floor(header / 2);
    if (header % 2 === 1) {
      const bytes = runLength * width;
      if (pos + bytes > end) fail("has a bit-packed run past its end");
      const take = Math.min(runLength * 8, count - n);
      unpack(buf, pos, width, take, out, n);
      pos += bytes;
      n += take;
    } else {
      if (pos + byteWidth > end) fail("has a repeated run past its end");
      let v = 0;
      for (let i = 0; i < byteWidth; i++) v += buf[pos + i]! * 2 ** (8 * i);
      pos += byteWidth;
      const take = Math.min(runLength, count - n);
      out.fill(v, n, n + take);
      n += take;
    }
  }
  return pos;
}

/** `take` values of `width` bits, least significant bit first, from buf at pos into out at `at`. */
function unpack(
  buf: Uint8Array,
  pos: number,
  width: number,
  take: number,
  out: Uint8Array | Uint32Array,
  at: number,
) {
  if (width === 0) {
    out.fill(0, at, at + take);
    return;
  }
  if (width <= 24) {
    // A 32-bit accumulator holds up to 31 bits here, so the bit operations stay exact.
    const mask = (1 << width) - 1;
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < take; i++) {
      while (bits < width) {
        acc |= buf[pos++]! << bits;
        bits += 8;
      }
      out[at + i] = acc & mask;
      acc >>>= width;
      bits -= width;
    }
    return;
  }
  let bit = 0;
  for (let i = 0; i < take; i++) {
    let v = 0;
    for (let got = 0; got < width; ) {
      const k = Math.min(8 - bit, width - got);
      v += ((buf[pos]! >>> bit) & ((1 << k) - 1)) * 2 ** got;
      got += k;
      bit += k;
      if (bit === 8) {
        bit = 0;
        pos++;
      }
    }
    out[at + i] = v;
  }
}

/** Fixed-width little-endian values, copied so that they are aligned. */
function fixedWidth<T>(
  buf: Uint8Array,
  pos: number,
  count: number,
  size: 4 | 8,
  make: (b: ArrayBuffer) => T,
): T {
  const bytes = Buffer.from(buf.subarray(pos, pos + count * size));
  if (!LITTLE_ENDIAN) {
    if (size === 4) bytes.swap32();
    else bytes.swap64();
  }
  return make(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
}

/** `count` PLAIN values of a page or dictionary from buf[pos, end). */
export function decodePlain(
  physical: Physical,
  buf: Uint8Array,
  pos: number,
  end: number,
  count: number,
  fail: Fail,
): ColumnValues {
  const need = (bytes: number) => {
    if (pos + bytes > end) fail(`has ${end - pos} bytes for ${count} PLAIN ${physical} values`);
  };
  switch (physical) {
    case "BOOLEAN": {
      need(Math.ceil(count / 8));
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = (buf[pos + (i >> 3)]! >> (i & 7)) & 1;
      return out;
    }
    case "INT32":
      need(count * 4);
      return fixedWidth(buf, pos, count, 4, (b) => new Int32Array(b));
    case "FLOAT":
      need(count * 4);
      return fixedWidth(buf, pos, count, 4, (b) => new Float32Array(b));
    case "INT64":
      need(count * 8);
      return fixedWidth(buf, pos, count, 8, (b) => new BigInt64Array(b));
    case "DOUBLE":
      need(count * 8);
      return fixedWidth(buf, pos, count, 8, (b) => new Float64Array(b));
    case "BYTE_ARRAY": {
      need(count * 4);
      const out: string[] = new Array(count);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < count; i++) {
        need(4);
        const n = view.getUint32(pos, true);
        pos += 4;
        need(n);
        try {
          out[i] = UTF8.decode(buf.subarray(pos, pos + n));
        } catch {
          fail(`has a string that is not valid UTF-8 (value ${i})`);
        }
        pos += n;
      }
      return out;
    }
  }
}

/** Dictionary entries picked by index. */
function gather(dict: ColumnValues, indices: Uint32Array, fail: Fail): ColumnValues {
  const size = dict.length;
  for (let i = 0; i < indices.length; i++) {
    if (indices[i]! >= size) fail(`refers to dictionary entry ${indices[i]} of ${size}`);
  }
  if (Array.isArray(dict)) return Array.from(indices, (k) => dict[k]!);
  const out = new (dict.constructor as new (n: number) => Exclude<ColumnValues, string[]>)(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = dict[indices[i]!]! as never;
  return out;
}

export function decodeValues(
  physical: Physical,
  encoding: number,
  buf: Uint8Array,
  pos: number,
  count: number,
  dict: ColumnValues | null,
  fail: Fail,
): ColumnValues {
  const end = buf.length;
  if (encoding === ENCODING.PLAIN) return decodePlain(physical, buf, pos, end, count, fail);
  if (encoding === ENCODING.RLE_DICTIONARY || encoding === ENCODING.PLAIN_DICTIONARY) {
    if (!dict) fail("is dictionary-encoded but the column chunk has no dictionary page");
    if (pos >= end && count > 0) fail("has no dictionary index bit width");
    const indices = new Uint32Array(count);
    if (count > 0) decodeHybrid(buf, pos + 1, end, buf[pos]!, indices, fail);
    return gather(dict!, indices, fail);
  }
  if (encoding === ENCODING.RLE && physical === "BOOLEAN") {
    if (pos + 4 > end) fail("has no RLE length");
    const n = new DataView(buf.buffer, buf.byteOffset).getUint32(pos, true);
    if (pos + 4 + n > end) fail("has an RLE block past its end");
    const out = new Uint8Array(count);
    decodeHybrid(buf, pos + 4, pos + 4 + n, 1, out, fail);
    return out;
  }
  return fail(
    `has ${encodingName(encoding)} values of ${physical}; window files are read with ` +
      "PLAIN, dictionary (RLE_DICTIONARY, PLAIN_DICTIONARY) and RLE booleans",
  );
}

/** Levels of `count` entries, checked against their maximum. */
export function levels(buf: Uint8Array, pos: number, end: number, max: number, count: number, fail: Fail) {
  const out = new Uint8Array(count);
  const next = decodeHybrid(buf, pos, end, bitWidth(max), out, fail);
  for (let i = 0; i < count; i++) if (out[i]! > max) fail(`has level ${out[i]} above the maximum ${max}`);
  return { out, next };
}

/** v1 levels: RLE with a 4-byte length in front. */
export function levelsV1(
  buf: Uint8Array,
  pos: number,
  max: number,
  count: number,
  encoding: number,
  fail: Fail,
) {
  if (encoding !== ENCODING.RLE) fail(`has levels in ${encodingName(encoding)}, not RLE`);
  if (pos + 4 > buf.length) fail("has no level length");
  const n = new DataView(buf.buffer, buf.byteOffset).getUint32(pos, true);
  if (pos + 4 + n > buf.length) fail("has levels past its end");
  return { out: levels(buf, pos + 4, pos + 4 + n, max, count, fail).out, next: pos + 4 + n };
}

const TYPED_ARRAYS: Record<
  Exclude<Physical, "BYTE_ARRAY">,
  new (
    n: number,
  ) => Exclude<ColumnValues, string[]>
> = {
  BOOLEAN: Uint8Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FLOAT: Float32Array,
  DOUBLE: Float64Array,
};

/** The values of a column chunk's pages, as one array. */
export function concatValues(physical: Physical, parts: ColumnValues[]): ColumnValues {
  if (physical === "BYTE_ARRAY") return (parts as string[][]).flat();
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new TYPED_ARRAYS[physical](total);
  let at = 0;
  for (const p of parts) {
    out.set(p as never, at);
    at += p.length;
  }
  return out;
}
