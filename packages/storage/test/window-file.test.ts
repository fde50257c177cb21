import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parquet from "@dsnp/parquetjs";
import { checkWindowRows } from "@grail/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  pythonFloatStr,
  readWindowFile,
  WindowFileFormatError,
  windowFileMetadata,
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
