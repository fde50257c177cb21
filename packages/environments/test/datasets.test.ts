import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CacheDirectorySource,
  DATASETS,
  DatasetFetchError,
  DatasetIntegrityError,
  DatasetMissingError,
  DatasetStore,
  fetchDatasets,
  readManifest,
  runDatasetsFetchCli,
} from "../src/index.js";
import { FakeHub, mbppParquet } from "../src/testing/index.js";

const FIXTURES = resolve(import.meta.dirname, "fixtures");
const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "grail-datasets-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the JSONL cache is verified on load", () => {
  it("loads the fixtures through their manifests", async () => {
    const src = new CacheDirectorySource(FIXTURES, { requireCatalogCounts: false });
    expect(await src.table("gsm8k", "main", "train")).toHaveLength(4);
    expect((await readManifest(FIXTURES, "mbpp")).tables.map((t) => t.rows)).toEqual([3, 2, 1]);
  });
  it("refuses fixture-sized tables where the production counts are required", async () => {
    const src = new CacheDirectorySource(FIXTURES);
    await expect(src.table("humaneval", "openai_humaneval", "test")).rejects.toThrow(/reference has 164/);
  });
  it("detects a tampered file", async () => {
    const dir = tmp();
    cpSync(join(FIXTURES, "datasets"), join(dir, "datasets"), { recursive: true });
    const file = join(dir, "datasets/gsm8k/main/test.jsonl");
    writeFileSync(file, readFileSync(file, "utf8").replace("12", "13"));
    const src = new CacheDirectorySource(dir, { requireCatalogCounts: false });
    await expect(src.table("gsm8k", "main", "test")).rejects.toThrow(DatasetIntegrityError);
    expect(await src.table("gsm8k", "main", "train")).toHaveLength(4);
  });
  it("says how to fix a missing cache", async () => {
    const src = new CacheDirectorySource(tmp());
    const err = await new DatasetStore(src).mbpp("train").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetMissingError);
    expect((err as Error).message).toMatch(/pnpm datasets:fetch/);
  });
});

const mbppRow = (i: number) => ({
  task_id: 100 + i,
  text: `Write a function that returns ${i}.`,
  code: `def f${i}():\r\n    return ${i}`,
  test_list: [`assert f${i}() == ${i}`],
  setup: i === 2 ? "base = 1" : "",
});

describe("fetching from the hub (loopback stand-in)", () => {
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const hub = new FakeHub();
  beforeAll(async () => {
    const rows = Array.from({ length: 12 }, (_, i) => mbppRow(i));
    // train is split over two shards to check they are concatenated in name order.
    const files = new Map([
      ["full/train-00001-of-00002.parquet", mbppParquet(rows.slice(3, 5))],
      ["full/train-00000-of-00002.parquet", mbppParquet(rows.slice(0, 3))],
      ["full/validation-00000-of-00001.parquet", mbppParquet(rows.slice(5, 7))],
      ["full/test-00000-of-00001.parquet", mbppParquet(rows.slice(7, 12))],
    ]);
    await hub.addRepo(DATASETS.mbpp.repo, commit, files).start();
  });
  afterAll(() => hub.stop());

  it("converts parquet shards to the verified JSONL cache with a manifest", async () => {
    const dataDir = tmp();
    const lines: string[] = [];
    const fetched = await fetchDatasets({
      dataDir,
      datasets: ["mbpp"],
      revisions: { mbpp: "main" },
      hubUrl: hub.url,
      allowRowCountMismatch: true,
      log: (l) => lines.push(l),
    });
    expect(fetched[0]?.revision).toBe(commit);
    expect(fetched[0]?.tables.map((t) => [t.split, t.rows])).toEqual([
      ["train", 5],
      ["validation", 2],
      ["test", 5],
    ]);
    expect(fetched[0]?.tables[0]?.files).toEqual([
      "full/train-00000-of-00002.parquet",
      "full/train-00001-of-00002.parquet",
    ]);
    const manifest = await readManifest(dataDir, "mbpp");
    expect(manifest.revision).toBe(commit);
    const trainSources = manifest.tables[0]?.sources ?? [];
    expect(trainSources.map((s) => [s.rows, s.sha256.length])).toEqual([
      [3, 64],
      [2, 64],
    ]);
    const store = new DatasetStore(new CacheDirectorySource(dataDir, { requireCatalogCounts: false }));
    const train = await store.mbpp("train");
    // 5 HF-train rows, then int(5·0.8) = 4 test rows in Random(42) order ([3, 1, 2, 4, 0] → 110, 108, 109, 111).
    expect(train.map((r) => r.task_id)).toEqual([100, 101, 102, 103, 104, 110, 108, 109, 111]);
    expect(train[0]).toEqual({
      task_id: 100,
      text: "Write a function that returns 0.",
      code: "def f0():\r\n    return 0",
      test_list: ["assert f0() == 0"],
      test_setup_code: "",
      test_imports: [],
    });
    expect(lines.some((l) => l.includes("is commit"))).toBe(true);
  });

  it("refuses tables whose row counts differ from the reference", async () => {
    await expect(
      fetchDatasets({ dataDir: tmp(), datasets: ["mbpp"], revisions: { mbpp: commit }, hubUrl: hub.url }),
    ).rejects.toThrow(/reference has 374/);
  });

  it("refuses a download whose sha256 differs from the hub's listing", async () => {
    hub.corrupt.add(`${DATASETS.mbpp.repo}/full/validation-00000-of-00001.parquet`);
    try {
      await expect(
        fetchDatasets({
          dataDir: tmp(),
          datasets: ["mbpp"],
          revisions: { mbpp: commit },
          hubUrl: hub.url,
          allowRowCountMismatch: true,
        }),
      ).rejects.toThrow(DatasetIntegrityError);
    } finally {
      hub.corrupt.clear();
    }
  });

  it("runs as the datasets:fetch command", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const dataDir = tmp();
    const args = ["--data-dir", dataDir, "--only", "mbpp", "--hub", hub.url, "--revision", `mbpp=${commit}`];
    expect(await runDatasetsFetchCli([...args, "--allow-row-count-mismatch"], io)).toBe(0);
    expect(out.at(-1)).toMatch(/cached mbpp@0123456789/);
    expect((await readManifest(dataDir, "mbpp")).tables).toHaveLength(3);
    expect(await runDatasetsFetchCli(args, io)).toBe(1);
    expect(err.at(-1)).toMatch(/reference has 374/);
    expect(await runDatasetsFetchCli(["--only", "sat"], io)).toBe(2);
    expect(await runDatasetsFetchCli(["--bogus"], io)).toBe(2);
  });

  it("writes under the cache root it is given when --data-dir is left out, and needs one of the two", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const cacheDir = tmp();
    const args = [
      "--only",
      "mbpp",
      "--hub",
      hub.url,
      "--revision",
      `mbpp=${commit}`,
      "--allow-row-count-mismatch",
    ];
    expect(await runDatasetsFetchCli(args, io, { defaultDataDir: () => cacheDir })).toBe(0);
    await expect(readManifest(cacheDir, "mbpp")).resolves.toMatchObject({ dataset: "mbpp" });
    expect(out.at(-1)).toContain(`under ${cacheDir}`);

    const refused = () => {
      throw new Error("GRAIL_CACHE_DIR is empty");
    };
    expect(await runDatasetsFetchCli(args, io, { defaultDataDir: refused })).toBe(2);
    expect(err.at(-1)).toMatch(/GRAIL_CACHE_DIR is empty.*--data-dir/s);
    expect(await runDatasetsFetchCli(args, io)).toBe(2);
    expect(err.at(-1)).toMatch(/--data-dir/);
  });

  it("reports HTTP failures with the URL", async () => {
    const err = await fetchDatasets({ dataDir: tmp(), datasets: ["gsm8k"], hubUrl: hub.url }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetFetchError);
    expect((err as Error).message).toMatch(/HTTP 404/);
  });
});
