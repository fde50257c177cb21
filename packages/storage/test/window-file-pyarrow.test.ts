/**
 * Window files written by pyarrow with the reference writer's settings and variations of them
 * (test/fixtures/README.md): every codec and page layout a Python miner's upload may have must
 * read back to exactly the rows that were written.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { RolloutRecord } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import { readWindowFile, readWindowFileFooter } from "../src/index.js";

const FIXTURES = join(import.meta.dirname, "fixtures");
const PYARROW_FIXTURES = [
  "window-zstd.parquet",
  "window-snappy.parquet",
  "window-gzip.parquet",
  "window-none.parquet",
  "window-plain.parquet",
  "window-zstd-v2.parquet",
  "window-zstd-paged.parquet",
] as const;

const expected = JSON.parse(await readFile(join(FIXTURES, "window-rows.json"), "utf8")) as {
  metadata: Record<string, string>;
  rows: RolloutRecord[];
};

describe("window files written by pyarrow", () => {
  it.each(PYARROW_FIXTURES)("reads %s to the rows and metadata that were written", async (name) => {
    const back = await readWindowFile(join(FIXTURES, name));
    expect(back.rows).toEqual(expected.rows);
    // pyarrow adds its own ARROW:schema entry next to the five the reference sets.
    expect(back.metadata).toMatchObject(expected.metadata);
    expect(Object.keys(back.metadata).sort()).toEqual(
      [...Object.keys(expected.metadata), "ARROW:schema"].sort(),
    );
  });

  it("reads an empty window, which pyarrow writes as one row group of empty chunks", async () => {
    const back = await readWindowFile(join(FIXTURES, "window-empty.parquet"));
    expect(back.rows).toEqual([]);
    expect(back.metadata).toMatchObject({ ...expected.metadata, inference_count: "0" });
  });

  it.each(PYARROW_FIXTURES)("reads the footer of %s", async (name) => {
    const footer = await readWindowFileFooter(join(FIXTURES, name));
    expect(footer.rows).toBe(expected.rows.length);
    expect(footer.metadata).toMatchObject(expected.metadata);
  });
});
