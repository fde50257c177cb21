/**
 * Reads a window file written by us or by another miner's pyarrow (the reference writer): the
 * footer, the file's schema matched by name against §6.4 (window-file-layout), then each row group's
 * column chunks (window-file-decode) assembled into rows. A null anywhere, a missing column, a type
 * other than the schema's or a malformed page is a WindowFileFormatError naming the row or column;
 * columns the schema does not have are ignored, as the reference's validator ignores them.
 */
import { open, readFile } from "node:fs/promises";
import thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";
import { decodeThrift } from "@dsnp/parquetjs/dist/lib/util.js";
import type { RolloutRecord } from "@grail/protocol";
import { WindowFileFormatError } from "./errors.js";
import { type ColumnChunkData, readColumnChunk } from "./window-file-decode.js";
import { type Fail, PHYSICAL_TYPES } from "./window-file-encodings.js";
import { type Leaf, matchWindowSchema } from "./window-file-layout.js";

export interface WindowFileContents {
  rows: RolloutRecord[];
  /** File-level key/value metadata exactly as stored (all strings). */
  metadata: Record<string, string>;
}

type FileMetaData = InstanceType<typeof thrift.FileMetaData>;

const MAGIC = Buffer.from("PAR1");

function decodeFooter(footer: Buffer, fail: Fail): FileMetaData {
  const md = new thrift.FileMetaData();
  try {
    decodeThrift(md, footer);
  } catch (err) {
    fail(`has a footer that does not decode: ${(err as Error).message}`);
  }
  if (!Array.isArray(md.schema) || !Array.isArray(md.row_groups))
    fail("has a footer without schema or row groups");
  return md;
}

function footerOf(file: Uint8Array, fail: Fail): FileMetaData {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < 12 || !buf.subarray(0, 4).equals(MAGIC) || !buf.subarray(-4).equals(MAGIC)) {
    fail("is not a Parquet file (no PAR1 magic at both ends)");
  }
  const length = buf.readUInt32LE(buf.length - 8);
  if (length > buf.length - 12) fail(`declares a ${length}-byte footer in ${buf.length} bytes`);
  return decodeFooter(buf.subarray(buf.length - 8 - length, buf.length - 8), fail);
}

function keyValues(md: FileMetaData): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const kv of md.key_value_metadata ?? []) {
    if (typeof kv.key === "string" && typeof kv.value === "string") metadata[kv.key] = kv.value;
  }
  return metadata;
}

/** Reads a window file written by us or by the Python reference (pyarrow). */
export async function readWindowFile(source: Uint8Array | string): Promise<WindowFileContents> {
  const where = typeof source === "string" ? source : "<buffer>";
  const fail: Fail = (why) => {
    throw new WindowFileFormatError(`${where} ${why}`, { where });
  };
  let file: Uint8Array;
  try {
    file = typeof source === "string" ? await readFile(source) : source;
  } catch (err) {
    throw new WindowFileFormatError(
      `${where} is not readable: ${(err as Error).message}`,
      { where },
      { cause: err },
    );
  }
  const md = footerOf(file, fail);
  const leaves = matchWindowSchema(md.schema, fail);
  const byFilePath = new Map(leaves.map((l) => [l.filePath, l]));

  const rows: RolloutRecord[] = [];
  for (const [g, group] of md.row_groups.entries()) {
    const numRows = Number(group.num_rows);
    if (!(Number.isSafeInteger(numRows) && numRows >= 0))
      fail(`row group ${g} declares ${group.num_rows} rows`);
    const chunks = new Map<string, ColumnChunkData>();
    for (const column of group.columns ?? []) {
      const meta = column.meta_data;
      if (!meta || column.file_path)
        fail(`row group ${g} has a column chunk without metadata or in another file`);
      const leaf = byFilePath.get(meta!.path_in_schema.join("."));
      if (!leaf) continue;
      if (PHYSICAL_TYPES.get(meta!.type) !== leaf.physical)
        fail(
          `row group ${g} stores ${leaf.path} as ${PHYSICAL_TYPES.get(meta!.type) ?? `type ${meta!.type}`}`,
        );
      chunks.set(leaf.path, await readColumnChunk(file, meta!, leaf, `${where} row group ${g}`));
    }
    assembleRows(leaves, chunks, numRows, { where: `${where} row group ${g}`, firstRow: rows.length }, rows);
  }
  const declared = Number(md.num_rows);
  if (declared !== rows.length) fail(`declares ${md.num_rows} rows, its row groups hold ${rows.length}`);
  return { rows, metadata: keyValues(md) };
}

type Getter = (row: number) => unknown;
type RowFail = (why: string, row?: number, field?: string) => never;

function assembleRows(
  leaves: Leaf[],
  chunks: Map<string, ColumnChunkData>,
  numRows: number,
  at: { where: string; firstRow: number },
  out: RolloutRecord[],
): void {
  const fail: RowFail = (why, row, field) => {
    const r = row === undefined ? "" : `row ${at.firstRow + row} `;
    throw new WindowFileFormatError(`${at.where}: ${r}${why}`, {
      ...(row === undefined ? {} : { row: at.firstRow + row }),
      ...(field === undefined ? {} : { field }),
    });
  };
  const get = new Map<string, Getter>();
  for (const leaf of leaves) {
    const chunk = chunks.get(leaf.path);
    if (!chunk) fail(`has no column chunk for ${leaf.path}`);
    get.set(
      leaf.path,
      leaf.maxRep === 0 ? scalarGetter(leaf, chunk!, numRows, fail) : listGetter(leaf, chunk!, numRows, fail),
    );
  }
  const v = (path: string, row: number) => get.get(path)!(row);
  for (let r = 0; r < numRows; r++) {
    const int = (path: string): number => {
      const n = v(path, r);
      if (typeof n === "bigint") {
        const x = Number(n);
        if (!Number.isSafeInteger(x))
          fail(`${path} ${n} is beyond the integers a validator compares exactly`, r, path);
        return x;
      }
      return n as number;
    };
    const num = (path: string) => v(path, r) as number;
    const str = (path: string) => v(path, r) as string;
    const bool = (path: string) => v(path, r) === 1;
    const list = (path: string) => v(path, r) as number[];
    out.push({
      window_start: int("window_start"),
      block: int("block"),
      nonce: int("nonce"),
      block_hash: str("block_hash"),
      randomness: str("randomness"),
      use_drand: bool("use_drand"),
      rollout_group: int("rollout_group"),
      rollout_index: int("rollout_index"),
      total_in_group: int("total_in_group"),
      checkpoint_window: int("checkpoint_window"),
      commit: {
        tokens: list("commit.tokens"),
        commitments: str("commit.commitments"),
        proof_version: str("commit.proof_version"),
        model: { name: str("commit.model.name"), layer_index: int("commit.model.layer_index") },
        signature: str("commit.signature"),
        beacon: str("commit.beacon"),
        rollout: {
          total_reward: num("commit.rollout.total_reward"),
          advantage: num("commit.rollout.advantage"),
          success: bool("commit.rollout.success"),
          token_logprobs: list("commit.rollout.token_logprobs"),
          prompt_length: int("commit.rollout.prompt_length"),
          completion_length: int("commit.rollout.completion_length"),
        },
      },
      timestamp: num("timestamp"),
      challenge: str("challenge"),
      hotkey: str("hotkey"),
      signature: str("signature"),
    });
  }
}

/** A column of one value per row; every one must be present (§6.4 has no nulls). */
function scalarGetter(leaf: Leaf, chunk: ColumnChunkData, numRows: number, fail: RowFail): Getter {
  if (chunk.entries !== numRows) fail(`has ${chunk.entries} values of ${leaf.path} for ${numRows} rows`);
  const { defs, values } = chunk;
  if (defs) {
    for (let r = 0; r < numRows; r++)
      if (defs[r]! < leaf.maxDef) fail(`has a null ${leaf.nulls[defs[r]!]}`, r, leaf.nulls[defs[r]!]);
  }
  return (r) => values[r];
}

/** A list column: each row's entries start at repetition level 0; an empty list is one entry at emptyAt. */
function listGetter(leaf: Leaf, chunk: ColumnChunkData, numRows: number, fail: RowFail): Getter {
  const { defs, reps, values, entries } = chunk;
  const starts = new Int32Array(numRows + 1);
  let row = -1;
  let n = 0;
  for (let i = 0; i < entries; i++) {
    if (reps![i] === 0) {
      row++;
      if (row >= numRows) fail(`has more rows of ${leaf.path} than the ${numRows} it declares`);
      starts[row] = n;
    } else if (row < 0) fail(`starts ${leaf.path} inside a list`);
    const d = defs ? defs[i]! : leaf.maxDef;
    if (d === leaf.maxDef) n++;
    else if (d === leaf.emptyAt) {
      if (reps![i] !== 0 || (i + 1 < entries && reps![i + 1] !== 0))
        fail(`has an empty ${leaf.path} with elements`, row, leaf.path);
    } else if (d < leaf.emptyAt!) fail(`has a null ${leaf.nulls[d]}`, row, leaf.nulls[d]);
    else fail(`has a null element in ${leaf.path}`, row, leaf.path);
  }
  if (row + 1 !== numRows) fail(`has ${row + 1} rows of ${leaf.path}, not ${numRows}`);
  starts[numRows] = n;
  const typed = values as Int32Array | Float32Array;
  return (r) => Array.from(typed.subarray(starts[r]!, starts[r + 1]!));
}

/** The footer only: row count and key/value metadata, without reading any row. */
export async function readWindowFileFooter(
  path: string,
): Promise<{ rows: number; metadata: Record<string, string> }> {
  const fail: Fail = (why) => {
    throw new WindowFileFormatError(`${path} has no readable Parquet footer: it ${why}`, { path });
  };
  let footer: Buffer;
  try {
    const fh = await open(path, "r");
    try {
      const { size } = await fh.stat();
      const ends = Buffer.alloc(12);
      if (size >= 12) {
        await fh.read(ends, 0, 4, 0);
        await fh.read(ends, 4, 8, size - 8);
      }
      if (size < 12 || !ends.subarray(0, 4).equals(MAGIC) || !ends.subarray(8).equals(MAGIC)) {
        return fail("is not a Parquet file (no PAR1 magic at both ends)");
      }
      const length = ends.readUInt32LE(4);
      if (length > size - 12) return fail(`declares a ${length}-byte footer in ${size} bytes`);
      footer = Buffer.alloc(length);
      await fh.read(footer, 0, length, size - 8 - length);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof WindowFileFormatError) throw err;
    throw new WindowFileFormatError(
      `${path} has no readable Parquet footer: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  const md = decodeFooter(footer, fail);
  return { rows: Number(md.num_rows), metadata: keyValues(md) };
}
