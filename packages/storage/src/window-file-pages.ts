/**
 * The window file's page encoder: each leaf column of a row group buffered in typed arrays and
 * written as one v1 data page (RLE/bit-packed levels, PLAIN values, compressed), byte for byte
 * what parquetjs's own writer produces for the schema with the codecs it has, without its
 * per-value objects; with ZSTD, which parquetjs lacks, the same pages compressed with zstd.
 */
import type parquet from "@dsnp/parquetjs";
import thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";
import { serializeThrift } from "@dsnp/parquetjs/dist/lib/util.js";
import { compressPage, type WindowFileCodec } from "./window-file-codecs.js";
import {
  LIST_COLUMNS,
  type ListKind,
  SCALAR_COLUMNS,
  type ScalarKind,
  type WindowFileRow,
} from "./window-file-schema.js";

type NumericArray = Int32Array | Float32Array | Float64Array | Uint8Array;

/** A growable typed array that keeps its capacity across row groups. */
class NumericColumn<A extends NumericArray> {
  private data: A;
  length = 0;

  constructor(private readonly alloc: (n: number) => A) {
    this.data = alloc(1024);
  }

  private reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.data.length) return;
    const next = this.alloc(Math.max(need, this.data.length * 2));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }

  push(v: number): void {
    this.reserve(1);
    this.data[this.length++] = v;
  }

  pushAll(src: ArrayLike<number>): void {
    this.reserve(src.length);
    this.data.set(src, this.length);
    this.length += src.length;
  }

  values(): A {
    return this.data.subarray(0, this.length) as A;
  }
}

/** BYTE_ARRAY values in PLAIN encoding (4-byte little-endian length, then the UTF-8 bytes). */
class TextColumn {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;

  push(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    if (this.used + 4 + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.used + 4 + n, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    this.buf.writeUInt32LE(n, this.used);
    this.buf.write(s, this.used + 4, n, "utf8");
    this.used += 4 + n;
  }

  plain(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  clear(): void {
    this.used = 0;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** PLAIN encoding of fixed-width numbers: their little-endian bytes. */
function plainNumbers(values: Int32Array | Float32Array | Float64Array | BigInt64Array): Buffer {
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const out = Buffer.from(bytes);
  if (values.BYTES_PER_ELEMENT === 4) out.swap32();
  else out.swap64();
  return out;
}

/** PLAIN BOOLEAN: one bit per value, least significant bit first. */
function plainBooleans(values: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.ceil(values.length / 8));
  for (let i = 0; i < values.length; i++) if (values[i]) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const bitWidth = (max: number) => (max === 0 ? 0 : Math.ceil(Math.log2(max + 1)));

/**
 * Repetition/definition levels in the RLE/bit-packing hybrid, with the 4-byte length envelope of
 * v1 data pages. The runs are split exactly as parquetjs splits them (bit-packed groups of 8 until
 * two equal values start a repeated run), so the pages are byte-identical to its writer's.
 */
function encodeLevels(levels: Uint8Array, width: number): Buffer {
  const parts: Buffer[] = [];
  const repeated = (value: number, count: number) => {
    const head = varint(count << 1);
    const body = Buffer.alloc(Math.ceil(width / 8));
    for (let i = 0, v = value; i < body.length; i++, v >>= 8) body[i] = v & 0xff;
    parts.push(Buffer.from(head), body);
  };
  const bitPacked = (start: number, count: number) => {
    const padded = Math.ceil(count / 8) * 8;
    const body = Buffer.alloc((width * padded) / 8);
    for (let i = 0; i < count; i++) {
      const v = levels[start + i]!;
      for (let k = 0; k < width; k++) {
        if (v & (1 << k)) {
          const bit = i * width + k;
          body[bit >> 3]! |= 1 << (bit & 7);
        }
      }
    }
    parts.push(Buffer.from(varint(((padded / 8) << 1) | 1)), body);
  };
  const n = levels.length;
  let runStart = 0;
  let runLength = 0;
  let repeats = 0;
  for (let i = 0; i < n; i++) {
    if (repeats === 0 && runLength % 8 === 0 && i + 1 < n && levels[i] === levels[i + 1]) {
      if (runLength > 0) bitPacked(runStart, runLength);
      runLength = 0;
      repeats = 1;
    } else if (repeats > 0 && levels[i] === levels[i - 1]) {
      repeats++;
    } else {
      if (repeats > 0) repeated(levels[i - 1]!, repeats);
      repeats = 0;
      if (runLength === 0) runStart = i;
      runLength++;
    }
  }
  if (repeats > 0) repeated(levels[n - 1]!, repeats);
  else if (runLength > 0) bitPacked(runStart, runLength);
  const size = parts.reduce((a, p) => a + p.length, 0);
  const envelope = Buffer.allocUnsafe(4);
  envelope.writeUInt32LE(size);
  return Buffer.concat([envelope, ...parts], 4 + size);
}

type Field = (typeof parquet.ParquetSchema.prototype.fieldList)[number];

/** One v1 data page (header, then the compressed levels and values), as parquetjs writes it. */
function dataPage(field: Field, values: Buffer, rlevels: Uint8Array | null, dlevels: Uint8Array): Buffer {
  const r = field.rLevelMax > 0 && rlevels ? encodeLevels(rlevels, bitWidth(field.rLevelMax)) : EMPTY;
  const d = field.dLevelMax > 0 ? encodeLevels(dlevels, bitWidth(field.dLevelMax)) : EMPTY;
  const codec = (field.compression ?? "UNCOMPRESSED") as WindowFileCodec;
  const body = compressPage(codec, Buffer.concat([r, d, values]));
  const header = new thrift.PageHeader();
  header.type = thrift.PageType.DATA_PAGE;
  header.uncompressed_page_size = r.length + d.length + values.length;
  header.compressed_page_size = body.length;
  header.data_page_header = new thrift.DataPageHeader();
  header.data_page_header.num_values = dlevels.length;
  header.data_page_header.encoding = thrift.Encoding[field.encoding ?? "PLAIN"];
  header.data_page_header.definition_level_encoding = thrift.Encoding.RLE;
  header.data_page_header.repetition_level_encoding = thrift.Encoding.RLE;
  return Buffer.concat([serializeThrift(header), body]);
}

const EMPTY = Buffer.alloc(0);

/** One leaf column's values for the row group being built. */
export interface ColumnBuffer {
  readonly field: Field;
  add(row: WindowFileRow): void;
  /** The buffered values as one data page, and the number of level entries in it; empties the buffer. */
  seal(rows: number): { page: Buffer; numValues: number };
}

class ScalarColumn implements ColumnBuffer {
  private readonly numbers: NumericColumn<Float64Array> | null;
  private readonly ints: NumericColumn<Int32Array> | null;
  private readonly flags: NumericColumn<Uint8Array> | null;
  private readonly text: TextColumn | null;

  constructor(
    readonly field: Field,
    private readonly kind: ScalarKind,
    private readonly get: (r: WindowFileRow) => unknown,
  ) {
    this.numbers =
      kind === "INT64" || kind === "DOUBLE" ? new NumericColumn((n) => new Float64Array(n)) : null;
    this.ints = kind === "INT32" ? new NumericColumn((n) => new Int32Array(n)) : null;
    this.flags = kind === "BOOLEAN" ? new NumericColumn((n) => new Uint8Array(n)) : null;
    this.text = kind === "UTF8" ? new TextColumn() : null;
  }

  add(row: WindowFileRow): void {
    const v = this.get(row);
    if (this.text) this.text.push(v as string);
    else if (this.flags) this.flags.push(v ? 1 : 0);
    else (this.numbers ?? this.ints)!.push(v as number);
  }

  seal(rows: number): { page: Buffer; numValues: number } {
    let values: Buffer;
    if (this.text) values = this.text.plain();
    else if (this.flags) values = plainBooleans(this.flags.values());
    else if (this.ints) values = plainNumbers(this.ints.values());
    else if (this.kind === "INT64") values = plainNumbers(BigInt64Array.from(this.numbers!.values(), BigInt));
    else values = plainNumbers(this.numbers!.values());
    const page = dataPage(this.field, values, null, new Uint8Array(rows).fill(this.field.dLevelMax));
    this.text?.clear();
    for (const c of [this.numbers, this.ints, this.flags]) if (c) c.length = 0;
    return { page, numValues: rows };
  }
}

class ListColumn implements ColumnBuffer {
  private readonly values: NumericColumn<Int32Array> | NumericColumn<Float32Array>;
  private readonly lengths = new NumericColumn((n) => new Int32Array(n));

  constructor(
    readonly field: Field,
    kind: ListKind,
    private readonly get: (r: WindowFileRow) => ArrayLike<number>,
  ) {
    this.values =
      kind === "INT32"
        ? new NumericColumn((n) => new Int32Array(n))
        : new NumericColumn((n) => new Float32Array(n));
  }

  add(row: WindowFileRow): void {
    const list = this.get(row);
    this.values.pushAll(list);
    this.lengths.push(list.length);
  }

  seal(): { page: Buffer; numValues: number } {
    const lengths = this.lengths.values();
    let entries = 0;
    for (const n of lengths) entries += Math.max(1, n);
    // Dremel levels of a 3-level LIST: the first element of each row repeats at level 0, the
    // others at the list's level; an empty list is one entry defined up to the LIST group.
    const { rLevelMax, dLevelMax } = this.field;
    const rlevels = new Uint8Array(entries).fill(rLevelMax);
    const dlevels = new Uint8Array(entries).fill(dLevelMax);
    let at = 0;
    for (const n of lengths) {
      rlevels[at] = 0;
      if (n === 0) dlevels[at] = dLevelMax - 2;
      at += Math.max(1, n);
    }
    const page = dataPage(this.field, plainNumbers(this.values.values()), rlevels, dlevels);
    this.values.length = 0;
    this.lengths.length = 0;
    return { page, numValues: entries };
  }
}

export function columnBuffers(schema: InstanceType<typeof parquet.ParquetSchema>): ColumnBuffer[] {
  return schema.fieldList
    .filter((f) => !f.isNested)
    .map((field) => {
      const path = field.path.join(",");
      const scalar = SCALAR_COLUMNS[path];
      if (scalar) return new ScalarColumn(field, scalar.kind, scalar.get);
      const list = LIST_COLUMNS[path];
      if (list) return new ListColumn(field, list.kind, list.get);
      throw new Error(`window file schema column ${path} has no row accessor`);
    });
}
