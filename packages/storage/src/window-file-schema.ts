/**
 * The window file: all of a miner's rollouts for one window as one Parquet file, in
 * exactly the Arrow schema of spec/protocol.md §6.4 (field order, int64/int32/bool/
 * double/float/string, nested structs, 3-level LIST) plus the file-level key/value
 * metadata the validator parses. This module holds the schema, the metadata, and how a
 * row maps onto the schema's columns (with the check that refuses a malformed row).
 *
 * Codec: ZSTD at level 1, as the reference writer compresses. On rollout data it writes
 * faster than GZIP (which was most of the per-row cost) and gives smaller files, and a
 * smaller file uploads sooner before the window deadline.
 */
import parquet from "@dsnp/parquetjs";
import { PARQUET_COMPRESSION_METHODS } from "@dsnp/parquetjs/dist/lib/compression.js";
import type { RolloutRecord, WindowFileMetadata } from "@grail/protocol";
import { WINDOW_LENGTH } from "@grail/protocol";
import { WindowFileFormatError } from "./errors.js";
import type { WindowFileCodec } from "./window-file-codecs.js";

export type { WindowFileCodec } from "./window-file-codecs.js";
export const DEFAULT_WINDOW_FILE_CODEC: WindowFileCodec = "ZSTD";

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

type Codec = { compression: string; statistics: false };

/**
 * The §6.4 schema as parquetjs describes it (field order, physical and converted types, every
 * field OPTIONAL as pyarrow writes nullable fields, 3-level LISTs).
 *
 * Statistics are off. Nothing reads them (validators read whole files; there is no predicate
 * pushdown), and parquetjs computed them from a set of every distinct value of every page,
 * including each token and logprob: about a third of the per-row write cost.
 */
export function windowFileSchema(codec: WindowFileCodec = DEFAULT_WINDOW_FILE_CODEC) {
  // parquetjs accepts only the codecs it can compress itself, which ZSTD is not; our page encoder
  // compresses (window-file-codecs), so the codec is set on the leaves after the schema is built,
  // and parquetjs's envelope writer only copies it into the column chunk metadata.
  const known = codec in PARQUET_COMPRESSION_METHODS;
  const c: Codec = { compression: known ? codec : "UNCOMPRESSED", statistics: false };
  // pyarrow marks every field nullable, i.e. OPTIONAL in Parquet; we mirror that.
  const col = (type: string) => ({ type, optional: true, ...c });
  const list = (type: string) => ({
    type: "LIST",
    optional: true,
    fields: { list: { repeated: true, fields: { element: col(type) } } },
  });
  const struct = (fields: Record<string, unknown>) => ({ optional: true, fields });
  const schema = new parquet.ParquetSchema({
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
  if (!known) {
    for (const field of schema.fieldList) {
      if (!field.isNested) (field as { compression?: string }).compression = codec;
    }
  }
  return schema;
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

export type ScalarKind = "INT64" | "INT32" | "BOOLEAN" | "DOUBLE" | "UTF8";
export type ListKind = "INT32" | "FLOAT";

/** How each leaf column (parquetjs path, comma-joined) is read from a row. */
export const SCALAR_COLUMNS: Record<string, { kind: ScalarKind; get: (r: WindowFileRow) => unknown }> = {
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

export const LIST_COLUMNS: Record<string, { kind: ListKind; get: (r: WindowFileRow) => ArrayLike<number> }> =
  {
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
export function checkRow(row: WindowFileRow, index: number): void {
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
