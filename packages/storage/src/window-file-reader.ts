import { readFile } from "node:fs/promises";
import parquet from "@dsnp/parquetjs";
import type { RolloutRecord } from "@grail/protocol";
import { WindowFileFormatError } from "./errors.js";

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
