/**
 * The window file: all of a miner's rollouts for one window as one Parquet file, in
 * exactly the Arrow schema of spec/protocol.md §6.4 (field order, int64/int32/bool/
 * double/float/string, nested structs, 3-level LIST) plus the file-level key/value
 * metadata the validator parses.
 *
 * Codec: GZIP. pyarrow reads it (as it reads SNAPPY); on rollout data (sketch JSON,
 * random-looking logprobs) it gives files about a third smaller than SNAPPY at the same
 * write time here (zlib is native, snappyjs is pure JS), and a smaller file uploads
 * faster before the window deadline. The reference's zstd is not available in the
 * Parquet writer we use.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import parquet from "@dsnp/parquetjs";
import thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";
import { PARQUET_COMPRESSION_METHODS } from "@dsnp/parquetjs/dist/lib/compression.js";
import { serializeThrift } from "@dsnp/parquetjs/dist/lib/util.js";
import type { RolloutRecord, WindowFileMetadata } from "@grail/protocol";
import { WINDOW_LENGTH } from "@grail/protocol";
import { WindowFileFormatError } from "./errors.js";

export type WindowFileCodec = "GZIP" | "SNAPPY" | "UNCOMPRESSED";
export const DEFAULT_WINDOW_FILE_CODEC: WindowFileCodec = "GZIP";

export const WINDOW_KEY_PREFIX = "grail/windows/";

/** `grail/windows/{hotkey}-window-{W}.parquet` (§6.5; never `.gz`). */
export function windowObjectKey(hotkey: string, windowStart: number): string {
  return `${WINDOW_KEY_PREFIX}${hotkey}-window-${windowStart}.parquet`;
}

/** Python `str(float)` (repr): shortest round-trip digits, `.0` on integers, exponent outside [1e-4, 1e16). */
export function pythonFloatStr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // toExponential() without digits gives the shortest round-trip digits, as CPython's repr does.
  const [mantissa = "", e = "0"] = x.toExponential().split("e");
  const exponent = Number(e);
  if (exponent < -4 || exponent >= 16) {
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  const sign = x < 0 ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const intLen = exponent + 1;
  if (digits.length <= intLen) return `${sign}${digits.padEnd(intLen, "0")}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

/** The five metadata entries of §6.4, built from typed values. */
export function windowFileMetadata(input: {
  hotkey: string;
  windowStart: number;
  rowCount: number;
  timestampSeconds: number;
}): WindowFileMetadata {
  return {
    wallet: input.hotkey,
    window_start: String(input.windowStart),
    window_length: String(WINDOW_LENGTH),
    inference_count: String(input.rowCount),
    timestamp: pythonFloatStr(input.timestampSeconds),
  };
}

type Codec = { compression: WindowFileCodec; statistics: false };

/**
 * The §6.4 schema as parquetjs describes it (field order, physical and converted types, every
 * field OPTIONAL as pyarrow writes nullable fields, 3-level LISTs).
 *
 * Statistics are off. Nothing reads them (validators read whole files; there is no predicate
 * pushdown), and parquetjs computed them from a set of every distinct value of every page,
 * including each token and logprob: about a third of the per-row write cost.
 */
export function windowFileSchema(codec: WindowFileCodec = DEFAULT_WINDOW_FILE_CODEC) {
  const c: Codec = { compression: codec, statistics: false };
  // pyarrow marks every field nullable, i.e. OPTIONAL in Parquet; we mirror that.
  const col = (type: string) => ({ type, optional: true, ...c });
  const list = (type: string) => ({
    type: "LIST",
    optional: true,
    fields: { list: { repeated: true, fields: { element: col(type) } } },
  });
  const struct = (fields: Record<string, unknown>) => ({ optional: true, fields });
  return new parquet.ParquetSchema({
    window_start: col("INT64"),
    block: col("INT64"),
    nonce: col("INT64"),
    block_hash: col("UTF8"),
    randomness: col("UTF8"),
    use_drand: col("BOOLEAN"),
    rollout_group: col("INT64"),
    rollout_index: col("INT32"),
    total_in_group: col("INT32"),
    checkpoint_window: col("INT64"),
    commit: struct({
      tokens: list("INT32"),
      commitments: col("UTF8"),
      proof_version: col("UTF8"),
      model: struct({ name: col("UTF8"), layer_index: col("INT32") }),
      signature: col("UTF8"),
      beacon: col("UTF8"),
      rollout: struct({
        total_reward: col("DOUBLE"),
        advantage: col("DOUBLE"),
        success: col("BOOLEAN"),
        token_logprobs: list("FLOAT"),
        prompt_length: col("INT32"),
        completion_length: col("INT32"),
      }),
    }),
    timestamp: col("DOUBLE"),
    challenge: col("UTF8"),
    hotkey: col("UTF8"),
    signature: col("UTF8"),
    // biome-ignore lint/suspicious/noExplicitAny: parquetjs's schema definition type is looser than this literal
  } as any);
}

type Commit = RolloutRecord["commit"];
type Payload = Commit["rollout"];

/**
 * A row as the appender takes it: a RolloutRecord whose two long lists may also be typed arrays
 * (the miner's writer thread receives them as such and never turns them back into arrays).
 */
export type WindowFileRow = Omit<RolloutRecord, "commit"> & {
  commit: Omit<Commit, "tokens" | "rollout"> & {
    tokens: ArrayLike<number>;
    rollout: Omit<Payload, "token_logprobs"> & { token_logprobs: ArrayLike<number> };
  };
};

const TOP_LEVEL_FIELDS = [
  "window_start",
  "block",
  "nonce",
  "block_hash",
  "randomness",
  "use_drand",
  "rollout_group",
  "rollout_index",
  "total_in_group",
  "checkpoint_window",
  "commit",
  "timestamp",
  "challenge",
  "hotkey",
  "signature",
] as const;

type ScalarKind = "INT64" | "INT32" | "BOOLEAN" | "DOUBLE" | "UTF8";
type ListKind = "INT32" | "FLOAT";

/** How each leaf column (parquetjs path, comma-joined) is read from a row. */
const SCALAR_COLUMNS: Record<string, { kind: ScalarKind; get: (r: WindowFileRow) => unknown }> = {
  window_start: { kind: "INT64", get: (r) => r.window_start },
  block: { kind: "INT64", get: (r) => r.block },
  nonce: { kind: "INT64", get: (r) => r.nonce },
  block_hash: { kind: "UTF8", get: (r) => r.block_hash },
  randomness: { kind: "UTF8", get: (r) => r.randomness },
  use_drand: { kind: "BOOLEAN", get: (r) => r.use_drand },
  rollout_group: { kind: "INT64", get: (r) => r.rollout_group },
  rollout_index: { kind: "INT32", get: (r) => r.rollout_index },
  total_in_group: { kind: "INT32", get: (r) => r.total_in_group },
  checkpoint_window: { kind: "INT64", get: (r) => r.checkpoint_window },
  "commit,commitments": { kind: "UTF8", get: (r) => r.commit.commitments },
  "commit,proof_version": { kind: "UTF8", get: (r) => r.commit.proof_version },
  "commit,model,name": { kind: "UTF8", get: (r) => r.commit.model.name },
  "commit,model,layer_index": { kind: "INT32", get: (r) => r.commit.model.layer_index },
  "commit,signature": { kind: "UTF8", get: (r) => r.commit.signature },
  "commit,beacon": { kind: "UTF8", get: (r) => r.commit.beacon },
  "commit,rollout,total_reward": { kind: "DOUBLE", get: (r) => r.commit.rollout.total_reward },
  "commit,rollout,advantage": { kind: "DOUBLE", get: (r) => r.commit.rollout.advantage },
  "commit,rollout,success": { kind: "BOOLEAN", get: (r) => r.commit.rollout.success },
  "commit,rollout,prompt_length": { kind: "INT32", get: (r) => r.commit.rollout.prompt_length },
  "commit,rollout,completion_length": { kind: "INT32", get: (r) => r.commit.rollout.completion_length },
  timestamp: { kind: "DOUBLE", get: (r) => r.timestamp },
  challenge: { kind: "UTF8", get: (r) => r.challenge },
  hotkey: { kind: "UTF8", get: (r) => r.hotkey },
  signature: { kind: "UTF8", get: (r) => r.signature },
};

const LIST_COLUMNS: Record<string, { kind: ListKind; get: (r: WindowFileRow) => ArrayLike<number> }> = {
  "commit,tokens,list,element": { kind: "INT32", get: (r) => r.commit.tokens },
  "commit,rollout,token_logprobs,list,element": {
    kind: "FLOAT",
    get: (r) => r.commit.rollout.token_logprobs,
  },
};

const isInt32 = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;

function scalarOk(kind: ScalarKind, v: unknown): boolean {
  switch (kind) {
    case "INT64":
      return typeof v === "number" && Number.isSafeInteger(v);
    case "INT32":
      return isInt32(v);
    case "BOOLEAN":
      return typeof v === "boolean";
    case "DOUBLE":
      return typeof v === "number";
    case "UTF8":
      return typeof v === "string";
  }
}

const isList = (v: unknown): v is ArrayLike<number> =>
  Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));

/** Index of the first element that does not fit the list's element type, or -1. */
function badListElement(kind: ListKind, list: ArrayLike<number>): number {
  if (
    kind === "INT32"
      ? list instanceof Int32Array
      : list instanceof Float32Array || list instanceof Float64Array
  ) {
    return -1;
  }
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (kind === "INT32" ? !isInt32(v) : typeof v !== "number") return i;
  }
  return -1;
}

function displayPath(path: string): string {
  return path.replace(/,list,element$/, "").replaceAll(",", ".");
}

/** Refuses a row with a missing or mistyped value; the message names the row and the field. */
function checkRow(row: WindowFileRow, index: number): void {
  for (const f of TOP_LEVEL_FIELDS) {
    if (row[f] === undefined || row[f] === null) {
      throw new WindowFileFormatError(`row ${index} has no ${f}; every column must be non-null (§6.4)`, {
        row: index,
        field: f,
      });
    }
  }
  const c = row.commit;
  if (!isList(c.tokens) || !c.rollout || !isList(c.rollout.token_logprobs) || !c.model) {
    throw new WindowFileFormatError(
      `row ${index} has an incomplete commit (tokens, model, rollout required)`,
      {
        row: index,
      },
    );
  }
  for (const [path, spec] of Object.entries(SCALAR_COLUMNS)) {
    const v = spec.get(row);
    if (!scalarOk(spec.kind, v)) {
      const field = displayPath(path);
      throw new WindowFileFormatError(
        v === undefined || v === null
          ? `row ${index} has no ${field}; every column must be non-null (§6.4)`
          : `row ${index}: ${field} must be ${spec.kind}, got ${JSON.stringify(v)}`,
        { row: index, field },
      );
    }
  }
  for (const [path, spec] of Object.entries(LIST_COLUMNS)) {
    const bad = badListElement(spec.kind, spec.get(row));
    if (bad >= 0) {
      const field = displayPath(path);
      throw new WindowFileFormatError(`row ${index}: ${field}[${bad}] is not a valid ${spec.kind}`, {
        row: index,
        field,
        element: bad,
      });
    }
  }
}

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

function compress(codec: string, body: Buffer): Buffer {
  const method = PARQUET_COMPRESSION_METHODS[codec];
  const out = method?.deflate(body);
  if (!Buffer.isBuffer(out)) {
    throw new WindowFileFormatError(`codec ${codec} is not supported for window files`, { codec });
  }
  return out;
}

/** One v1 data page (header, then the compressed levels and values), as parquetjs writes it. */
function dataPage(field: Field, values: Buffer, rlevels: Uint8Array | null, dlevels: Uint8Array): Buffer {
  const r = field.rLevelMax > 0 && rlevels ? encodeLevels(rlevels, bitWidth(field.rLevelMax)) : EMPTY;
  const d = field.dLevelMax > 0 ? encodeLevels(dlevels, bitWidth(field.dLevelMax)) : EMPTY;
  const body = compress(field.compression ?? "UNCOMPRESSED", Buffer.concat([r, d, values]));
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
interface ColumnBuffer {
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

function columnBuffers(schema: InstanceType<typeof parquet.ParquetSchema>): ColumnBuffer[] {
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

/**
 * The output file behind parquetjs's envelope writer. Write errors are kept and reported when the
 * file is closed: parquetjs issues some of its writes without awaiting them, so a rejected write
 * would otherwise surface as an unhandled rejection.
 */
class FileOutput {
  private readonly out: WriteStream;
  error: Error | null = null;

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: "wx" });
    this.out.on("error", (err) => {
      this.error ??= err;
    });
  }

  write(buf: Buffer, callback: (err?: Error | null) => void): boolean {
    return this.out.write(buf, (err) => {
      if (err) this.error ??= err;
      callback();
    });
  }

  end(callback?: () => void): this {
    this.out.end(callback);
    return this;
  }

  /** Flushes and closes the file; rejects with the first write error. */
  async close(): Promise<void> {
    if (!this.out.closed) {
      await new Promise<void>((resolve) => {
        this.out.once("close", resolve);
        if (this.out.destroyed) return;
        this.out.end();
      });
    }
    if (this.error) throw this.error;
  }

  async destroy(): Promise<void> {
    if (this.out.closed) return;
    await new Promise<void>((resolve) => {
      this.out.once("close", resolve);
      this.out.destroy();
    });
  }
}

export interface WindowFileAppenderOptions {
  codec?: WindowFileCodec;
  /**
   * Rows per row group. A row group is encoded, compressed and written as soon as it is full, so
   * closing the file only encodes the last, partial one. Default 1024.
   */
  rowGroupSize?: number;
}

/**
 * Builds a window file while rows arrive: rows are validated and split into column buffers when
 * appended, each full row group is encoded, compressed and written to a partial file at once, and
 * close() writes the last row group and the footer (whose key/value metadata is only known then)
 * and renames the partial file to its final name. A window that is abandoned leaves no file.
 *
 * The pages are exactly what parquetjs's ParquetWriter writes for the same schema (same level
 * runs, PLAIN values, page headers, codec), without its per-value object churn; the file envelope
 * (row groups, offset index, footer) is parquetjs's own ParquetEnvelopeWriter.
 */
export class WindowFileAppender {
  private readonly columns: ColumnBuffer[];
  private groupRows = 0;
  private total = 0;
  private writing: Promise<void>;
  private state: "open" | "closing" | "closed" = "open";

  private constructor(
    readonly partialPath: string,
    private readonly output: FileOutput,
    private readonly envelope: InstanceType<typeof parquet.ParquetEnvelopeWriter>,
    schema: InstanceType<typeof parquet.ParquetSchema>,
    private readonly rowGroupSize: number,
  ) {
    this.columns = columnBuffers(schema);
    this.writing = Promise.resolve(envelope.writeHeader() as unknown as Promise<void>);
  }

  /** Opens `partialPath` (which must not exist; its directory is created). */
  static async create(
    partialPath: string,
    opts: WindowFileAppenderOptions = {},
  ): Promise<WindowFileAppender> {
    const rowGroupSize = opts.rowGroupSize ?? 1024;
    if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) {
      throw new WindowFileFormatError(`rowGroupSize must be a positive integer, got ${rowGroupSize}`, {
        rowGroupSize,
      });
    }
    await mkdir(dirname(partialPath), { recursive: true });
    const schema = windowFileSchema(opts.codec ?? DEFAULT_WINDOW_FILE_CODEC);
    const output = new FileOutput(partialPath);
    const envelope = await parquet.ParquetEnvelopeWriter.openStream(
      schema,
      output as unknown as Parameters<typeof parquet.ParquetEnvelopeWriter.openStream>[1],
      { useDataPageV2: false },
    );
    return new WindowFileAppender(partialPath, output, envelope, schema, rowGroupSize);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.total;
  }

  /** Resolves once every full row group appended so far is in the partial file. */
  async flushed(): Promise<void> {
    await this.writing;
  }

  /**
   * Adds rows. They are all checked first: a missing or mistyped value throws
   * WindowFileFormatError and none of the rows is added (a group goes in whole or not at all).
   */
  append(rows: readonly WindowFileRow[]): void {
    if (this.state !== "open") throw new WindowFileFormatError("the window file is already closed", {});
    rows.forEach((row, i) => {
      checkRow(row, this.total + i);
    });
    for (const row of rows) {
      for (const c of this.columns) c.add(row);
      this.total++;
      if (++this.groupRows === this.rowGroupSize) this.sealRowGroup();
    }
  }

  /**
   * Writes the remaining rows and the footer with `metadata` (its inference_count must equal the
   * rows appended), then renames the partial file to `path`. On failure the partial file is
   * removed and nothing is left at `path`.
   */
  async close(
    metadata: WindowFileMetadata,
    path: string,
  ): Promise<{ path: string; size: number; rows: number }> {
    if (this.state !== "open") throw new WindowFileFormatError("the window file is already closed", { path });
    this.state = "closing";
    try {
      if (metadata.inference_count !== String(this.total)) {
        throw new WindowFileFormatError(
          `metadata inference_count ${metadata.inference_count} does not match ${this.total} rows`,
          { inference_count: metadata.inference_count, rows: this.total },
        );
      }
      if (this.groupRows > 0) this.sealRowGroup();
      await this.writing;
      this.envelope.writeBloomFilters();
      this.envelope.writeIndex();
      await (this.envelope.writeFooter({ ...metadata }) as unknown as Promise<void>);
      await this.output.close();
      await moveFile(this.partialPath, path);
      const { size } = await stat(path);
      this.state = "closed";
      return { path, size, rows: this.total };
    } catch (err) {
      await this.abort();
      if (err instanceof WindowFileFormatError) throw err;
      throw new WindowFileFormatError(
        `could not write window file ${path}: ${(err as Error).message}`,
        { path },
        { cause: err },
      );
    }
  }

  /** Abandons the file: closes and removes the partial file. */
  async abort(): Promise<void> {
    this.state = "closed";
    await this.writing.catch(() => undefined);
    await this.output.destroy();
    await rm(this.partialPath, { force: true });
  }

  private sealRowGroup(): void {
    const rowCount = this.groupRows;
    const pages: Record<string, { page: Buffer; num_values: number; first_row_index: number }[]> = {};
    for (const c of this.columns) {
      const { page, numValues } = c.seal(rowCount);
      pages[c.field.path.join(",")] = [{ page, num_values: numValues, first_row_index: 0 }];
    }
    this.groupRows = 0;
    const records = { rowCount, pages } as unknown as Parameters<typeof this.envelope.writeRowGroup>[0];
    this.writing = this.writing.then(() => this.envelope.writeRowGroup(records));
  }
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}

export interface WriteWindowFileOptions {
  codec?: WindowFileCodec;
  rowGroupSize?: number;
}

/**
 * Writes the rows and metadata to `path` atomically (a temp file in the same
 * directory, renamed on success), so a crash never leaves a truncated window file
 * where the uploader or a retry would pick it up.
 */
export async function writeWindowFile(
  rows: readonly WindowFileRow[],
  metadata: WindowFileMetadata,
  path: string,
  opts: WriteWindowFileOptions = {},
): Promise<void> {
  if (metadata.inference_count !== String(rows.length)) {
    throw new WindowFileFormatError(
      `metadata inference_count ${metadata.inference_count} does not match ${rows.length} rows`,
      { inference_count: metadata.inference_count, rows: rows.length },
    );
  }
  // The appender checks every row before adding any; a bad row aborts the partial file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  let appender: WindowFileAppender;
  try {
    appender = await WindowFileAppender.create(tmp, opts);
  } catch (err) {
    if (err instanceof WindowFileFormatError) throw err;
    throw new WindowFileFormatError(
      `could not write window file ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  try {
    appender.append(rows);
  } catch (err) {
    await appender.abort();
    throw err;
  }
  await appender.close(metadata, path);
}

export interface WindowFileContents {
  rows: RolloutRecord[];
  /** File-level key/value metadata exactly as stored (all strings). */
  metadata: Record<string, string>;
}

/** Reads a window file written by us or by the Python reference (pyarrow). */
export async function readWindowFile(source: Uint8Array | string): Promise<WindowFileContents> {
  const where = typeof source === "string" ? source : "<buffer>";
  let reader: Awaited<ReturnType<typeof parquet.ParquetReader.openBuffer>>;
  try {
    const buffer = typeof source === "string" ? await readFile(source) : Buffer.from(source);
    reader = await parquet.ParquetReader.openBuffer(buffer);
  } catch (err) {
    throw new WindowFileFormatError(
      `${where} is not a readable Parquet file: ${(err as Error).message}`,
      { where },
      {
        cause: err,
      },
    );
  }
  try {
    const metadata: Record<string, string> = {};
    for (const kv of reader.metadata?.key_value_metadata ?? []) {
      if (kv.key !== undefined && kv.value !== undefined && kv.value !== null) metadata[kv.key] = kv.value;
    }
    const rows: RolloutRecord[] = [];
    const cursor = reader.getCursor();
    for (let raw = await cursor.next(); raw; raw = await cursor.next()) {
      rows.push(fromParquetRow(raw as Record<string, unknown>, rows.length, where));
    }
    return { rows, metadata };
  } finally {
    await reader.close();
  }
}

/** The footer only: row count and key/value metadata, without reading any row. */
export async function readWindowFileFooter(
  path: string,
): Promise<{ rows: number; metadata: Record<string, string> }> {
  let reader: Awaited<ReturnType<typeof parquet.ParquetReader.openFile>>;
  try {
    reader = await parquet.ParquetReader.openFile(path);
  } catch (err) {
    throw new WindowFileFormatError(
      `${path} has no readable Parquet footer: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  try {
    const metadata: Record<string, string> = {};
    for (const kv of reader.metadata?.key_value_metadata ?? []) {
      if (kv.key !== undefined && kv.value !== undefined && kv.value !== null) metadata[kv.key] = kv.value;
    }
    return { rows: Number(reader.getRowCount()), metadata };
  } finally {
    await reader.close();
  }
}

function fromParquetRow(raw: Record<string, unknown>, index: number, where: string): RolloutRecord {
  const field = (obj: Record<string, unknown>, name: string, path: string): unknown => {
    const v = obj[name];
    if (v === undefined || v === null) {
      throw new WindowFileFormatError(`${where}: row ${index} has a null ${path}`, {
        row: index,
        field: path,
      });
    }
    return v;
  };
  const int = (obj: Record<string, unknown>, name: string, path: string): number => {
    const v = field(obj, name, path);
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isSafeInteger(n)) {
      throw new WindowFileFormatError(`${where}: row ${index} ${path} is not an integer`, {
        row: index,
        field: path,
      });
    }
    return n;
  };
  const num = (obj: Record<string, unknown>, name: string, path: string): number =>
    Number(field(obj, name, path));
  const str = (obj: Record<string, unknown>, name: string, path: string): string =>
    String(field(obj, name, path));
  const bool = (obj: Record<string, unknown>, name: string, path: string): boolean =>
    Boolean(field(obj, name, path));
  const struct = (obj: Record<string, unknown>, name: string, path: string) =>
    field(obj, name, path) as Record<string, unknown>;
  const list = (obj: Record<string, unknown>, name: string, path: string): number[] =>
    unwrapList(field(obj, name, path)).map((v) => (typeof v === "bigint" ? Number(v) : Number(v)));

  const commit = struct(raw, "commit", "commit");
  const model = struct(commit, "model", "commit.model");
  const rollout = struct(commit, "rollout", "commit.rollout");
  return {
    window_start: int(raw, "window_start", "window_start"),
    block: int(raw, "block", "block"),
    nonce: int(raw, "nonce", "nonce"),
    block_hash: str(raw, "block_hash", "block_hash"),
    randomness: str(raw, "randomness", "randomness"),
    use_drand: bool(raw, "use_drand", "use_drand"),
    rollout_group: int(raw, "rollout_group", "rollout_group"),
    rollout_index: int(raw, "rollout_index", "rollout_index"),
    total_in_group: int(raw, "total_in_group", "total_in_group"),
    checkpoint_window: int(raw, "checkpoint_window", "checkpoint_window"),
    commit: {
      tokens: list(commit, "tokens", "commit.tokens"),
      commitments: str(commit, "commitments", "commit.commitments"),
      proof_version: str(commit, "proof_version", "commit.proof_version"),
      model: {
        name: str(model, "name", "commit.model.name"),
        layer_index: int(model, "layer_index", "layer_index"),
      },
      signature: str(commit, "signature", "commit.signature"),
      beacon: str(commit, "beacon", "commit.beacon"),
      rollout: {
        total_reward: num(rollout, "total_reward", "commit.rollout.total_reward"),
        advantage: num(rollout, "advantage", "commit.rollout.advantage"),
        success: bool(rollout, "success", "commit.rollout.success"),
        token_logprobs: list(rollout, "token_logprobs", "commit.rollout.token_logprobs"),
        prompt_length: int(rollout, "prompt_length", "commit.rollout.prompt_length"),
        completion_length: int(rollout, "completion_length", "commit.rollout.completion_length"),
      },
    },
    timestamp: num(raw, "timestamp", "timestamp"),
    challenge: str(raw, "challenge", "challenge"),
    hotkey: str(raw, "hotkey", "hotkey"),
    signature: str(raw, "signature", "signature"),
  };
}

/**
 * Accepts the 3-level LIST shape (`{list: [{element: v}]}`, `item` for older pyarrow)
 * and the legacy 2-level repeated field (a plain array).
 */
function unwrapList(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (typeof v === "object" && v !== null) {
    const entries = (v as { list?: unknown; bag?: unknown }).list ?? (v as { bag?: unknown }).bag;
    if (Array.isArray(entries)) {
      return entries.map((e) => {
        if (typeof e === "object" && e !== null) {
          const vals = Object.values(e as Record<string, unknown>);
          return vals.length === 1 ? vals[0] : e;
        }
        return e;
      });
    }
  }
  throw new WindowFileFormatError("list column has an unexpected shape", {});
}
