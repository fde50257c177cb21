import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parquet from "@dsnp/parquetjs";
import { checkWindowRows } from "@grail/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  pythonFloatStr,
  readWindowFile,
  WindowFileAppender,
  type WindowFileCodec,
  WindowFileFormatError,
  windowFileMetadata,
  windowFileSchema,
  windowObjectKey,
  writeWindowFile,
} from "../src/index.js";
import { makeWindowRows, SAMPLE_HOTKEY } from "./helpers/rollouts.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "grail-wf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("window file", () => {
  it("names the object like the validator looks it up", () => {
    expect(windowObjectKey("5Abc", 4999980)).toBe("grail/windows/5Abc-window-4999980.parquet");
  });

  it("formats the timestamp like Python str(float)", () => {
    expect(pythonFloatStr(1712345678.123456)).toBe("1712345678.123456");
    expect(pythonFloatStr(1712345678)).toBe("1712345678.0");
    expect(pythonFloatStr(1e16)).toBe("1e+16");
    expect(pythonFloatStr(1.5e-5)).toBe("1.5e-05");
    expect(pythonFloatStr(0.00012345)).toBe("0.00012345");
    expect(pythonFloatStr(-2.5)).toBe("-2.5");
    expect(pythonFloatStr(9999999999999998)).toBe("9999999999999998.0");
  });

  it("round-trips rows and metadata through our reader", async () => {
    const rows = makeWindowRows({ windowStart: 4999980, groups: 3 });
    const meta = windowFileMetadata({
      hotkey: SAMPLE_HOTKEY,
      windowStart: 4999980,
      rowCount: rows.length,
      timestampSeconds: 1712345678.5,
    });
    const path = join(dir, "rt.parquet");
    await writeWindowFile(rows, meta, path);
    const back = await readWindowFile(path);
    expect(back.metadata).toEqual({
      wallet: SAMPLE_HOTKEY,
      window_start: "4999980",
      window_length: "30",
      inference_count: "48",
      timestamp: "1712345678.5",
    });
    expect(back.rows).toEqual(rows);
    // Same result from a buffer, and the validator-equivalent structural check passes.
    const fromBuffer = await readWindowFile(await readFile(path));
    expect(fromBuffer.rows).toEqual(rows);
    const failures = checkWindowRows(back.rows, back.metadata, {
      hotkey: SAMPLE_HOTKEY,
      windowStart: 4999980,
      blockHash: rows[0]!.block_hash,
    });
    expect(failures).toEqual([]);
  });

  it("writes the §6.4 Parquet schema: order, physical types, optional fields, 3-level lists", async () => {
    const rows = makeWindowRows({ windowStart: 30, groups: 1 });
    const path = join(dir, "schema.parquet");
    await writeWindowFile(
      rows,
      windowFileMetadata({ hotkey: SAMPLE_HOTKEY, windowStart: 30, rowCount: 16, timestampSeconds: 1 }),
      path,
    );
    const reader = await parquet.ParquetReader.openFile(path);
    const elements = reader.metadata!.schema.map((s) => ({
      name: s.name,
      type: s.type ?? null,
      repetition: s.repetition_type ?? null,
      converted: s.converted_type ?? null,
      children: s.num_children ?? null,
    }));
    await reader.close();
    // Physical types: 0 BOOLEAN, 1 INT32, 2 INT64, 4 FLOAT, 5 DOUBLE, 6 BYTE_ARRAY.
    // Repetition: 1 OPTIONAL, 2 REPEATED. Converted: 0 UTF8, 3 LIST.
    const leaf = (name: string, type: number, converted: number | null = null) => ({
      name,
      type,
      repetition: 1,
      converted,
      children: null,
    });
    const group = (name: string, children: number, repetition = 1, converted: number | null = null) => ({
      name,
      type: null,
      repetition,
      converted,
      children,
    });
    expect(elements.slice(1)).toEqual([
      leaf("window_start", 2),
      leaf("block", 2),
      leaf("nonce", 2),
      leaf("block_hash", 6, 0),
      leaf("randomness", 6, 0),
      leaf("use_drand", 0),
      leaf("rollout_group", 2),
      leaf("rollout_index", 1),
      leaf("total_in_group", 1),
      leaf("checkpoint_window", 2),
      group("commit", 7),
      group("tokens", 1, 1, 3),
      group("list", 1, 2),
      leaf("element", 1),
      leaf("commitments", 6, 0),
      leaf("proof_version", 6, 0),
      group("model", 2),
      leaf("name", 6, 0),
      leaf("layer_index", 1),
      leaf("signature", 6, 0),
      leaf("beacon", 6, 0),
      group("rollout", 6),
      leaf("total_reward", 5),
      leaf("advantage", 5),
      leaf("success", 0),
      group("token_logprobs", 1, 1, 3),
      group("list", 1, 2),
      leaf("element", 4),
      leaf("prompt_length", 1),
      leaf("completion_length", 1),
      leaf("timestamp", 5),
      leaf("challenge", 6, 0),
      leaf("hotkey", 6, 0),
      leaf("signature", 6, 0),
    ]);
  });

  it("writes ZSTD pages by default, the reference's codec, under the footer schema GZIP files have", async () => {
    const rows = makeWindowRows({ windowStart: 30, groups: 2 });
    const meta = windowFileMetadata({
      hotkey: SAMPLE_HOTKEY,
      windowStart: 30,
      rowCount: 32,
      timestampSeconds: 1,
    });
    const zstdPath = join(dir, "default-codec.parquet");
    const gzipPath = join(dir, "gzip-codec.parquet");
    await writeWindowFile(rows, meta, zstdPath, { rowGroupSize: 16 });
    await writeWindowFile(rows, meta, gzipPath, { codec: "GZIP", rowGroupSize: 16 });
    const footer = async (path: string) => {
      const reader = await parquet.ParquetReader.openFile(path);
      const md = reader.metadata!;
      await reader.close();
      return md;
    };
    const zstd = await footer(zstdPath);
    const gzip = await footer(gzipPath);
    // CompressionCodec: 2 GZIP, 6 ZSTD.
    const codecs = (md: typeof zstd) =>
      new Set(md.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!.codec)));
    expect(codecs(zstd)).toEqual(new Set([6]));
    expect(codecs(gzip)).toEqual(new Set([2]));
    expect(zstd.schema).toEqual(gzip.schema);
    expect(zstd.key_value_metadata).toEqual(gzip.key_value_metadata);
    expect((await readWindowFile(zstdPath)).rows).toEqual(rows);
  });

  it("refuses rows with missing columns and a metadata count that disagrees", async () => {
    const rows = makeWindowRows({ windowStart: 30, groups: 1 });
    const meta = windowFileMetadata({
      hotkey: SAMPLE_HOTKEY,
      windowStart: 30,
      rowCount: 16,
      timestampSeconds: 1,
    });
    const broken = rows.map((r, i) => (i === 3 ? { ...r, challenge: undefined as unknown as string } : r));
    await expect(writeWindowFile(broken, meta, join(dir, "bad.parquet"))).rejects.toThrow(
      /row 3 has no challenge/,
    );
    await expect(writeWindowFile(rows.slice(1), meta, join(dir, "bad.parquet"))).rejects.toBeInstanceOf(
      WindowFileFormatError,
    );
  });

  it("reports a file that is not Parquet as WindowFileFormatError", async () => {
    await expect(readWindowFile(Buffer.from("definitely not parquet"))).rejects.toBeInstanceOf(
      WindowFileFormatError,
    );
  });
});

/** The same rows through parquetjs's own row-by-row ParquetWriter, for a byte comparison. */
async function writeWithParquetjs(
  rows: ReturnType<typeof makeWindowRows>,
  metadata: ReturnType<typeof windowFileMetadata>,
  path: string,
  opts: { codec: WindowFileCodec; rowGroupSize: number },
): Promise<void> {
  const writer = await parquet.ParquetWriter.openFile(windowFileSchema(opts.codec), path, {
    useDataPageV2: false,
    rowGroupSize: opts.rowGroupSize,
  });
  for (const [k, v] of Object.entries(metadata)) writer.setMetadata(k, v);
  const wrap = (values: readonly number[]) => ({ list: values.map((element) => ({ element })) });
  for (const r of rows) {
    await writer.appendRow({
      ...r,
      commit: {
        ...r.commit,
        tokens: wrap(r.commit.tokens),
        rollout: { ...r.commit.rollout, token_logprobs: wrap(r.commit.rollout.token_logprobs) },
      },
    });
  }
  await writer.close();
}

describe("window file appender", () => {
  const meta = (rowCount: number, windowStart = 60) =>
    windowFileMetadata({ hotkey: SAMPLE_HOTKEY, windowStart, rowCount, timestampSeconds: 1712345678.25 });

  it("writes the bytes parquetjs's ParquetWriter writes for the same schema, rows and row groups", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 3, promptLength: 7, completionLength: 33 });
    // Edge cases of the level encoding: an empty list and a one-element list.
    rows[5] = { ...rows[5]!, commit: { ...rows[5]!.commit, tokens: [] } };
    rows[6] = {
      ...rows[6]!,
      commit: { ...rows[6]!.commit, rollout: { ...rows[6]!.commit.rollout, token_logprobs: [-1.25] } },
    };
    for (const codec of ["GZIP", "SNAPPY", "UNCOMPRESSED"] as const) {
      for (const rowGroupSize of [1, 7, 1024]) {
        const ours = join(dir, `ours-${codec}-${rowGroupSize}.parquet`);
        const theirs = join(dir, `theirs-${codec}-${rowGroupSize}.parquet`);
        await writeWindowFile(rows, meta(rows.length), ours, { codec, rowGroupSize });
        await writeWithParquetjs(rows, meta(rows.length), theirs, { codec, rowGroupSize });
        expect((await readFile(ours)).equals(await readFile(theirs)), `${codec} × ${rowGroupSize}`).toBe(
          true,
        );
      }
    }
  });

  it("takes the long lists as typed arrays and writes the same file as from arrays", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 2 });
    const fromArrays = join(dir, "arrays.parquet");
    await writeWindowFile(rows, meta(rows.length), fromArrays);
    const typed = rows.map((r) => ({
      ...r,
      commit: {
        ...r.commit,
        tokens: Int32Array.from(r.commit.tokens),
        rollout: { ...r.commit.rollout, token_logprobs: Float64Array.from(r.commit.rollout.token_logprobs) },
      },
    }));
    const fromTyped = join(dir, "typed.parquet");
    await writeWindowFile(typed, meta(rows.length), fromTyped);
    expect((await readFile(fromTyped)).equals(await readFile(fromArrays))).toBe(true);
  });

  it("writes full row groups while rows arrive and only the tail and footer at close", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 4 });
    const partial = join(dir, "incremental", "w60.partial");
    const path = join(dir, "incremental", "w60.parquet");
    const appender = await WindowFileAppender.create(partial, { rowGroupSize: 16 });
    appender.append(rows.slice(0, 16));
    await appender.flushed();
    const afterOneGroup = (await stat(partial)).size;
    expect(afterOneGroup).toBeGreaterThan(1_000);
    appender.append(rows.slice(16, 56));
    await appender.flushed();
    // Two more full row groups are on disk; the last 8 rows wait for close().
    expect((await stat(partial)).size).toBeGreaterThan(2 * afterOneGroup);
    expect(existsSync(path)).toBe(false);
    appender.append(rows.slice(56));
    const written = await appender.close(meta(64), path);
    expect(written).toMatchObject({ path, rows: 64 });
    expect(written.size).toBe((await stat(path)).size);
    expect(existsSync(partial)).toBe(false);
    const back = await readWindowFile(path);
    expect(back.rows).toEqual(rows);
    expect(back.metadata.inference_count).toBe("64");
    const reader = await parquet.ParquetReader.openFile(path);
    expect(reader.metadata!.row_groups.map((g) => Number(g.num_rows))).toEqual([16, 16, 16, 16]);
    await reader.close();
    expect(
      checkWindowRows(back.rows, back.metadata, {
        hotkey: SAMPLE_HOTKEY,
        windowStart: 60,
        blockHash: rows[0]!.block_hash,
      }),
    ).toEqual([]);
  });

  it("refuses a batch with a bad row as a whole and keeps accepting good ones", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 3 });
    const appender = await WindowFileAppender.create(join(dir, "refuse.partial"), { rowGroupSize: 8 });
    appender.append(rows.slice(0, 16));
    const bad = rows
      .slice(16, 32)
      .map((r, i) =>
        i === 9 ? { ...r, commit: { ...r.commit, tokens: [...r.commit.tokens.slice(0, 3), 2 ** 31] } } : r,
      );
    expect(() => appender.append(bad)).toThrow(/row 25: commit\.tokens\[3\] is not a valid INT32/);
    expect(() => appender.append([{ ...rows[16]!, use_drand: 1 as unknown as boolean }])).toThrow(
      /row 16: use_drand must be BOOLEAN/,
    );
    expect(appender.rows).toBe(16);
    appender.append(rows.slice(32));
    const path = join(dir, "refuse.parquet");
    await appender.close(meta(32), path);
    expect((await readWindowFile(path)).rows).toEqual([...rows.slice(0, 16), ...rows.slice(32)]);
  });

  it("leaves no file when aborted or when the metadata count is wrong", async () => {
    const rows = makeWindowRows({ windowStart: 60, groups: 2 });
    const sub = join(dir, "abandoned");
    const a = await WindowFileAppender.create(join(sub, "a.partial"), { rowGroupSize: 4 });
    a.append(rows);
    await a.flushed();
    expect(existsSync(a.partialPath)).toBe(true);
    await a.abort();
    const b = await WindowFileAppender.create(join(sub, "b.partial"), { rowGroupSize: 4 });
    b.append(rows);
    await expect(b.close(meta(31), join(sub, "b.parquet"))).rejects.toThrow(
      /inference_count 31 does not match 32 rows/,
    );
    expect(await readdir(sub)).toEqual([]);
    expect(() => b.append(rows)).toThrow(/already closed/);
  });
});
