/**
 * The local validator on files a Python miner uploads: each pyarrow-written fixture of
 * packages/storage/test/fixtures (reference settings, every codec, dictionary, data page v2,
 * multi-page chunks) must pass the file-level checks and the model-free structure checks, as
 * `pnpm validate` runs them before it needs a checkpoint.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validateWindowFile } from "../src/index.js";

const FIXTURES = path.join(import.meta.dirname, "..", "..", "storage", "test", "fixtures");
const FILES = [
  "window-zstd.parquet",
  "window-snappy.parquet",
  "window-gzip.parquet",
  "window-none.parquet",
  "window-plain.parquet",
  "window-zstd-v2.parquet",
  "window-zstd-paged.parquet",
];

const written = JSON.parse(await readFile(path.join(FIXTURES, "window-rows.json"), "utf8")) as {
  hotkey: string;
  windowStart: number;
  blockHash: string;
};

describe("local validator on pyarrow-written window files", () => {
  it.each(FILES)("%s passes the file and structure checks", async (name) => {
    const bytes = await readFile(path.join(FIXTURES, name));
    const report = await validateWindowFile({
      hotkey: written.hotkey,
      window: written.windowStart,
      blockHash: written.blockHash,
      challengeRandomness: "ef".repeat(32),
      file: { bytes, lastModified: null, source: name },
      deadlineSeconds: null,
      loadCheckpoint: async () => null,
      environments: () => {
        throw new Error("no environment is needed without a checkpoint");
      },
    });
    expect(report.failingChecks).toEqual([]);
    expect(report.verdict).toBe("no_checkpoint");
    expect(report.rows).toBe(16);
    expect(report.groups).toBe(1);
    const passed = (id: string) => report.checks.find((c) => c.id === id)!.passed;
    expect(passed("parquet_readable")).toBe(1);
    expect(passed("file_metadata")).toBe(1);
    expect(passed("schema_valid")).toBe(16);
    expect(passed("advantage_match")).toBe(1);
  });
});
