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
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import parquet from "@dsnp/parquetjs";
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

type Codec = { compression: WindowFileCodec };

function buildSchema(codec: WindowFileCodec) {
  const c: Codec = { compression: codec };
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

const wrapList = (values: readonly number[]) => ({ list: values.map((element) => ({ element })) });

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

function assertPresent(row: RolloutRecord, index: number): void {
  for (const f of TOP_LEVEL_FIELDS) {
    if (row[f] === undefined || row[f] === null) {
      throw new WindowFileFormatError(`row ${index} has no ${f}; every column must be non-null (§6.4)`, {
        row: index,
        field: f,
      });
    }
  }
  const c = row.commit;
  if (!Array.isArray(c.tokens) || !c.rollout || !Array.isArray(c.rollout.token_logprobs) || !c.model) {
    throw new WindowFileFormatError(
      `row ${index} has an incomplete commit (tokens, model, rollout required)`,
      {
        row: index,
      },
    );
  }
}

function toParquetRow(r: RolloutRecord): Record<string, unknown> {
  const c = r.commit;
  return {
    window_start: r.window_start,
    block: r.block,
    nonce: r.nonce,
    block_hash: r.block_hash,
    randomness: r.randomness,
    use_drand: r.use_drand,
    rollout_group: r.rollout_group,
    rollout_index: r.rollout_index,
    total_in_group: r.total_in_group,
    checkpoint_window: r.checkpoint_window,
    commit: {
      tokens: wrapList(c.tokens),
      commitments: c.commitments,
      proof_version: c.proof_version,
      model: { name: c.model.name, layer_index: c.model.layer_index },
      signature: c.signature,
      beacon: c.beacon,
      rollout: {
        total_reward: c.rollout.total_reward,
        advantage: c.rollout.advantage,
        success: c.rollout.success,
        token_logprobs: wrapList(c.rollout.token_logprobs),
        prompt_length: c.rollout.prompt_length,
        completion_length: c.rollout.completion_length,
      },
    },
    timestamp: r.timestamp,
    challenge: r.challenge,
    hotkey: r.hotkey,
    signature: r.signature,
  };
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
  rows: readonly RolloutRecord[],
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
  rows.forEach(assertPresent);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const writer = await parquet.ParquetWriter.openFile(
      buildSchema(opts.codec ?? DEFAULT_WINDOW_FILE_CODEC),
      tmp,
      {
        useDataPageV2: false,
        rowGroupSize: opts.rowGroupSize ?? 1024,
      },
    );
    for (const [k, v] of Object.entries(metadata)) writer.setMetadata(k, v);
    for (const row of rows) await writer.appendRow(toParquetRow(row));
    await writer.close();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof WindowFileFormatError) throw err;
    throw new WindowFileFormatError(
      `could not write window file ${path}: ${(err as Error).message}`,
      { path },
      {
        cause: err,
      },
    );
  }
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
