import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CacheDirectorySource,
  DATASET_IDS,
  DATASETS,
  DatasetProvisionError,
  DatasetStore,
  downloadDir,
  fetchProgress,
  inspectDatasets,
  provisionDatasets,
  runDatasetsFetchCli,
} from "../src/index.js";
import { FakeHub, SYNTHETIC_MARKER, shardPath, syntheticHubFiles } from "../src/testing/index.js";

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "grail-provision-"));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let hub: FakeHub;
beforeAll(async () => {
  hub = await new FakeHub().addPinnedDatasets().start();
});
afterAll(() => hub.stop());
afterEach(() => {
  hub.requests.length = 0;
  hub.corrupt.clear();
  hub.cutOnce.clear();
  hub.ignoreRange = false;
  hub.token = null;
});

const HUMANEVAL = DATASETS.humaneval;
const HUMANEVAL_SHARD = shardPath("openai_humaneval", "test");
const humanevalBytes = () => syntheticHubFiles("humaneval").get(HUMANEVAL_SHARD) as Uint8Array;
const partialPath = (dataDir: string) =>
  `${join(downloadDir(dataDir, "humaneval", HUMANEVAL.revision), HUMANEVAL_SHARD)}.part`;
const downloadsOf = (repo: string, path: string) => hub.downloads(repo, path);

describe("provisioning the datasets at start", () => {
  it("fetches all four pinned datasets into an empty cache, verifies them, and leaves a verified cache alone", async () => {
    const dataDir = tmp();
    expect((await inspectDatasets(dataDir)).map((s) => [s.dataset, s.state])).toEqual(
      DATASET_IDS.map((id) => [id, "missing"]),
    );
    const lines: string[] = [];
    const progress = fetchProgress({ tty: null, line: (l) => lines.push(l) });
    const done = await provisionDatasets({ dataDir, hubUrl: hub.url, progress });
    expect(done.map((d) => [d.dataset, d.before.state, d.fetched])).toEqual(
      DATASET_IDS.map((id) => [id, "missing", true]),
    );
    const states = await inspectDatasets(dataDir);
    expect(states.map((s) => s.state)).toEqual(["present", "present", "present", "present"]);
    for (const s of states) {
      expect(s.state === "present" && s.revision).toBe(DATASETS[s.dataset].revision);
    }
    // Catalog row counts, from the fetched rows.
    const store = new DatasetStore(new CacheDirectorySource(dataDir));
    expect(await store.humaneval()).toHaveLength(164);
    expect((await store.gsm8k("train"))[0]?.question).toContain(SYNTHETIC_MARKER);
    expect(await store.math("val")).toHaveLength(500);
    // Without a terminal the progress is log lines: the plan, then every 10 %.
    expect(lines.some((l) => /downloading 21 shards/.test(l))).toBe(true);
    expect(lines.filter((l) => /datasets: \d+% /.test(l)).length).toBeGreaterThanOrEqual(5);

    hub.requests.length = 0;
    const again = await provisionDatasets({ dataDir, hubUrl: hub.url });
    expect(again.map((d) => d.fetched)).toEqual([false, false, false, false]);
    expect(hub.requests).toEqual([]);
  });

  it("re-builds a corrupted JSONL table at start, fetching again only the shard whose download is damaged too", async () => {
    const dataDir = tmp();
    await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["gsm8k"] });
    const table = join(dataDir, "datasets/gsm8k/main/test.jsonl");
    const text = readFileSync(table);
    text[40] = text[40] === 0x41 ? 0x42 : 0x41;
    writeFileSync(table, text);
    const shard = join(downloadDir(dataDir, "gsm8k", DATASETS.gsm8k.revision), shardPath("main", "test"));
    const shardBytes = readFileSync(shard);
    shardBytes[200] = (shardBytes[200] as number) ^ 0xff;
    writeFileSync(shard, shardBytes);

    const [state] = await inspectDatasets(dataDir, ["gsm8k"]);
    expect(state).toMatchObject({ dataset: "gsm8k", state: "corrupt" });
    expect(state?.state === "corrupt" && state.detail).toMatch(
      /main\/test\.jsonl: sha256 [0-9a-f]{64} differs/,
    );

    hub.requests.length = 0;
    const [done] = await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["gsm8k"] });
    expect(done).toMatchObject({ dataset: "gsm8k", fetched: true, before: { state: "corrupt" } });
    // The damaged shard is downloaded again; the two verified train shards are not.
    expect(downloadsOf(DATASETS.gsm8k.repo, shardPath("main", "test"))).toHaveLength(1);
    expect(downloadsOf(DATASETS.gsm8k.repo, shardPath("main", "train", 0, 2))).toHaveLength(0);
    expect(downloadsOf(DATASETS.gsm8k.repo, shardPath("main", "train", 1, 2))).toHaveLength(0);
    expect((await inspectDatasets(dataDir, ["gsm8k"]))[0]?.state).toBe("present");
    expect(await new CacheDirectorySource(dataDir).table("gsm8k", "main", "test")).toHaveLength(1319);
  });

  it("with the hub unreachable, re-builds a corrupted table from the verified shards downloaded before, and only from them", async () => {
    const dataDir = tmp();
    await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["mbpp"] });
    const table = join(dataDir, "datasets/mbpp/full/validation.jsonl");
    const good = readFileSync(table);
    writeFileSync(table, Buffer.concat([good, Buffer.from('{"task_id": 1}\n')]));
    const closed = await new FakeHub().start();
    await closed.stop();

    const lines: string[] = [];
    const [done] = await provisionDatasets({
      dataDir,
      hubUrl: closed.url,
      datasets: ["mbpp"],
      log: (l) => lines.push(l),
    });
    expect(done).toMatchObject({ fetched: true, before: { state: "corrupt" } });
    expect(readFileSync(table)).toEqual(good);
    expect(lines.some((l) => l.startsWith("mbpp: the hub cannot be reached"))).toBe(true);

    // A damaged download as well: nothing verified to rebuild from, so the start fails.
    writeFileSync(table, "");
    const shard = join(downloadDir(dataDir, "mbpp", DATASETS.mbpp.revision), shardPath("full", "validation"));
    writeFileSync(shard, readFileSync(shard).subarray(1));
    const err = await provisionDatasets({ dataDir, hubUrl: closed.url, datasets: ["mbpp"] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetProvisionError);
    expect((err as Error).message).toMatch(
      /^dataset "mbpp" is corrupt and could not be fetched .*ECONNREFUSED/,
    );
  });

  it("resumes a truncated partial shard download with a Range request", async () => {
    const dataDir = tmp();
    const bytes = humanevalBytes();
    mkdirSync(dirname(partialPath(dataDir)), { recursive: true });
    writeFileSync(partialPath(dataDir), bytes.subarray(0, 1000));

    await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["humaneval"] });
    const requests = downloadsOf(HUMANEVAL.repo, HUMANEVAL_SHARD);
    expect(requests.map((r) => r.range)).toEqual(["bytes=1000-"]);
    expect((await inspectDatasets(dataDir, ["humaneval"]))[0]?.state).toBe("present");
    expect(existsSync(partialPath(dataDir))).toBe(false);
  });

  it("downloads the whole shard again when the server answers a Range request with 200", async () => {
    const dataDir = tmp();
    mkdirSync(dirname(partialPath(dataDir)), { recursive: true });
    writeFileSync(partialPath(dataDir), humanevalBytes().subarray(0, 1000));
    hub.ignoreRange = true;

    await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["humaneval"] });
    expect(downloadsOf(HUMANEVAL.repo, HUMANEVAL_SHARD).map((r) => r.range)).toEqual(["bytes=1000-"]);
    expect((await inspectDatasets(dataDir, ["humaneval"]))[0]?.state).toBe("present");
  });

  it("continues a download the connection dropped, from where it stopped", async () => {
    const dataDir = tmp();
    hub.cutOnce.set(`${HUMANEVAL.repo}/${HUMANEVAL_SHARD}`, 3000);

    await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["humaneval"] });
    expect(downloadsOf(HUMANEVAL.repo, HUMANEVAL_SHARD).map((r) => r.range)).toEqual([null, "bytes=3000-"]);
    expect((await inspectDatasets(dataDir, ["humaneval"]))[0]?.state).toBe("present");
  });

  it("refuses a shard the hub serves corrupt with an integrity error and writes nothing to the cache", async () => {
    const dataDir = tmp();
    hub.corrupt.add(`${HUMANEVAL.repo}/${HUMANEVAL_SHARD}`);

    const err = await provisionDatasets({ dataDir, hubUrl: hub.url, datasets: ["humaneval"] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetProvisionError);
    expect((err as DatasetProvisionError).context).toMatchObject({ dataset: "humaneval" });
    expect((err as Error).message).toMatch(/"humaneval"/);
    expect((err as Error).message).toMatch(/sha256 [0-9a-f]{64}, the hub lists [0-9a-f]{64}/);
    expect((err as Error).message).toMatch(/pnpm datasets:fetch/);
    expect(existsSync(join(dataDir, "datasets/humaneval"))).toBe(false);
    const area = downloadDir(dataDir, "humaneval", HUMANEVAL.revision);
    const left = existsSync(area) ? readdirSync(area, { recursive: true }) : [];
    expect(left.filter((f) => String(f).endsWith(".parquet") || String(f).endsWith(".part"))).toEqual([]);
  });

  it("with no hub reachable and an empty cache, fails naming the dataset, what failed and the fix", async () => {
    const closed = await new FakeHub().start();
    const url = closed.url;
    await closed.stop();
    const err = await provisionDatasets({ dataDir: tmp(), hubUrl: url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetProvisionError);
    const message = (err as Error).message;
    expect(message).toMatch(/^dataset "gsm8k" is missing and could not be fetched/);
    expect(message).toContain(url);
    expect(message).toMatch(/ECONNREFUSED|fetch failed/);
    expect(message).toContain("pnpm datasets:fetch");
    expect(message).toContain("HF_ENDPOINT");
  });

  it("sends HF_TOKEN as a bearer token", async () => {
    hub.token = "hf_test_token";
    const err = await provisionDatasets({ dataDir: tmp(), hubUrl: hub.url, datasets: ["mbpp"] }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/HTTP 401/);
    const dataDir = tmp();
    await provisionDatasets({ dataDir, hubUrl: hub.url, token: "hf_test_token", datasets: ["mbpp"] });
    expect((await inspectDatasets(dataDir, ["mbpp"]))[0]?.state).toBe("present");
  });
});

describe("pnpm datasets:fetch", () => {
  it("takes the same resumable path: continues a partial shard, prints progress, leaves verified datasets alone", async () => {
    const dataDir = tmp();
    mkdirSync(dirname(partialPath(dataDir)), { recursive: true });
    writeFileSync(partialPath(dataDir), humanevalBytes().subarray(0, 2000));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), tty: null };
    const args = ["--data-dir", dataDir, "--only", "humaneval"];
    expect(await runDatasetsFetchCli(args, io, { hubUrl: hub.url }), err.join("\n")).toBe(0);
    expect(downloadsOf(HUMANEVAL.repo, HUMANEVAL_SHARD).map((r) => r.range)).toEqual(["bytes=2000-"]);
    const kb = (n: number) => `${Math.round(n / 1024)}`;
    expect(out).toContain(
      `datasets: downloading 1 shards, ${kb(humanevalBytes().byteLength)} KB (2 KB already on disk)`,
    );
    expect(out).toContain(
      `datasets: 100% (${kb(humanevalBytes().byteLength)}/${kb(humanevalBytes().byteLength)} KB, 1/1 shards)`,
    );
    expect(out.at(-1)).toBe(`cached humaneval@e9b53e1677 under ${dataDir}`);

    out.length = 0;
    hub.requests.length = 0;
    expect(await runDatasetsFetchCli(args, io, { hubUrl: hub.url })).toBe(0);
    expect(hub.requests).toEqual([]);
    expect(out).toContain("humaneval: already cached and verified (revision e9b53e1677)");
  });
});

describe("download progress", () => {
  it("draws one redrawn bar on a terminal and logs only the plan and the end", () => {
    const drawn: string[] = [];
    const lines: string[] = [];
    const tty = {
      write: (t: string) => drawn.push(t) !== 0,
      columns: 120,
    } as unknown as NodeJS.WritableStream;
    const p = fetchProgress({ tty, line: (l) => lines.push(l) });
    p.start({ shards: 2, bytes: 4 * 1024 * 1024, partBytes: 0, kept: 3 });
    p.advance(2 * 1024 * 1024);
    p.shardDone("a");
    p.advance(2 * 1024 * 1024);
    p.shardDone("b");
    p.finish();
    expect(lines).toEqual([
      "datasets: downloading 2 shards, 4.0 MB; 3 shards already downloaded and verified",
      "datasets: downloaded 2 shards, 4.0 MB",
    ]);
    expect(drawn[0]).toBe(`\r\x1b[2Kdatasets [${"-".repeat(30)}] 0% (0.0/4.0 MB, 0/2 shards)`);
    expect(drawn.at(-2)).toBe(`\r\x1b[2Kdatasets [${"#".repeat(30)}] 100% (4.0/4.0 MB, 2/2 shards)`);
    expect(drawn.at(-1)).toBe("\n");
  });

  it("without a terminal logs a line every 10 %", () => {
    const lines: string[] = [];
    const p = fetchProgress({ tty: null, line: (l) => lines.push(l) });
    p.start({ shards: 1, bytes: 1000, partBytes: 250, kept: 0 });
    for (let i = 0; i < 75; i++) p.advance(10);
    p.shardDone("a");
    // 250 bytes were on disk: the first line is at 26 %; 100 % waits for the shard's verification.
    expect(lines.slice(1)).toEqual([
      ...[26, 30, 40, 50, 60, 70, 80, 90].map(
        (n) => `datasets: ${n}% (${Math.round((n * 10) / 1024)}/1 KB, 0/1 shards)`,
      ),
      "datasets: 100% (1/1 KB, 1/1 shards)",
    ]);
  });
});
