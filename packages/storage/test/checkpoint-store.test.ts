import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CheckpointIntegrityError,
  CheckpointNotFoundError,
  CheckpointPublisher,
  CheckpointStore,
  checkpointMetadataKey,
  checkpointSubPrefix,
  chooseCheckpoint,
  computeRetentionWindows,
  createDualClients,
  DeltaFormatError,
  loadStateDict,
  missingMetadataFields,
  parseCheckpointMetadata,
  parseReadyMarker,
  type StateDict,
  WeightsHashMismatchError,
  weightsHash,
  writeSafetensors,
} from "../src/index.js";
import { startTestS3Server, type TestS3Server } from "../src/testing/index.js";
import { diffStates, mutateState, randomState } from "./helpers/checkpoints.js";

const BUCKET = "trainerbucket";
const READ = { accessKeyId: "CKREAD00001", secretAccessKey: "ck-read-secret", permission: "read" as const };
const WRITE = {
  accessKeyId: "CKWRITE0001",
  secretAccessKey: "ck-write-secret",
  permission: "write" as const,
};
const common = {
  envId: "gsm8k",
  envParams: { split: "train" },
  generationParams: { max_tokens: 512, temperature: 0.7, top_p: 0.95, top_k: 0, repetition_penalty: 1.0 },
  thinkingMode: "instructed" as const,
};

let server: TestS3Server;
let root: string;
let clients: ReturnType<typeof createDualClients>;
let publisher: CheckpointPublisher;
const states = new Map<number, StateDict>();

function newStore(cache = "cache") {
  return new CheckpointStore({ reader: clients.reader, cacheRoot: join(root, cache) });
}

async function expectedModelFile(state: StateDict): Promise<Buffer> {
  const p = join(root, `expected-${Math.random()}.safetensors`);
  await writeSafetensors(p, state, { format: "pt" });
  return readFile(p);
}

/** Replaces one published file and updates the manifest so only deeper checks can catch it. */
async function republishFile(window: number, type: "FULL" | "DELTA", name: string, bytes: Uint8Array) {
  const prefix = checkpointSubPrefix(window, type);
  await clients.writer.putBytes(`${prefix}/${name}`, bytes);
  const meta = JSON.parse(
    (await clients.reader.download(checkpointMetadataKey(window, type))).bytes.toString(),
  );
  meta.file_manifest[name] = createHash("sha256").update(bytes).digest("hex");
  await clients.writer.putBytes(checkpointMetadataKey(window, type), Buffer.from(JSON.stringify(meta)));
}

beforeAll(async () => {
  server = await startTestS3Server({ buckets: [BUCKET], keys: [READ, WRITE] });
  root = await mkdtemp(join(tmpdir(), "grail-ck-"));
  clients = createDualClients(
    {
      accountId: BUCKET,
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      read: { accessKeyId: READ.accessKeyId, secretAccessKey: READ.secretAccessKey },
      write: { accessKeyId: WRITE.accessKeyId, secretAccessKey: WRITE.secretAccessKey },
    },
    { retry: { maxAttempts: 2, baseDelayMs: 50, floorDelayMs: 10 } },
  );
  publisher = new CheckpointPublisher(clients.writer);
  // FULL anchor at 0, then a chain of DELTAs in each codec version.
  states.set(0, randomState(100));
  await publisher.publishFull({
    ...common,
    window: 0,
    state: states.get(0)!,
    modelName: "Qwen/Qwen2.5-0.5B-Instruct",
    extraFiles: { "config.json": Buffer.from('{"model_type":"qwen2"}'), "tokenizer.json": Buffer.from("{}") },
  });
  const formats = ["sparse_codec_v2", "sparse_codec_v3", "sparse_codec_v3.1"] as const;
  for (const [i, format] of formats.entries()) {
    const window = 30 * (i + 1);
    states.set(window, mutateState(states.get(window - 30)!, 200 + i, 0.03));
    await publisher.publishDelta({
      ...common,
      window,
      prevWindow: window - 30,
      anchorWindow: 0,
      prevState: states.get(window - 30)!,
      state: states.get(window)!,
      format,
    });
  }
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe("checkpoint layout", () => {
  it("parses READY markers and picks the newest (R, W) with R < window", () => {
    expect(parseReadyMarker("grail/checkpoints/checkpoint-300/READY-330")).toEqual({
      checkpointWindow: 300,
      readyWindow: 330,
    });
    expect(parseReadyMarker("grail/checkpoints/checkpoint-300/FULL/metadata.json")).toBeNull();
    const markers = [
      { checkpointWindow: 270, readyWindow: 330 },
      { checkpointWindow: 300, readyWindow: 330 },
      { checkpointWindow: 330, readyWindow: 360 },
    ];
    expect(chooseCheckpoint(markers, 360)).toBe(300);
    expect(chooseCheckpoint(markers, 361)).toBe(330);
    expect(chooseCheckpoint(markers, 330)).toBeNull();
  });

  it("computes the §6.8 retention set", () => {
    const keep = computeRetentionWindows(900);
    expect([...keep].sort((a, b) => a - b)).toEqual([
      0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 600, 630, 660, 690, 720, 750, 780, 810, 840, 870, 900,
    ]);
    const milestones = computeRetentionWindows(900, {
      deltaBaseInterval: 10,
      milestoneInterval: 10,
      bootstrapWindows: 10,
    });
    expect(milestones.has(300)).toBe(true);
    expect(computeRetentionWindows(60).has(90)).toBe(false);
  });

  it("applies metadata defaults and lists missing mining fields", () => {
    const meta = parseCheckpointMetadata({ env_id: "math" }, 30, "DELTA");
    expect(meta.model_name).toBe("no_name");
    expect(meta.checkpoint_type).toBe("DELTA");
    expect(missingMetadataFields(meta)).toEqual(["thinking_mode", "generation_params"]);
  });
});

describe("CheckpointStore against s3rver", () => {
  it("discovers READY checkpoints and reads DELTA metadata before FULL", async () => {
    const store = newStore("discover");
    expect((await store.listReady()).length).toBe(4);
    expect(await store.latestReadyCheckpoint(150)).toBe(90);
    expect(await store.latestReadyCheckpoint(90)).toBe(30);
    expect(await store.latestReadyCheckpoint(30)).toBeNull();
    const meta = await store.getMetadata(60);
    expect(meta?.checkpoint_type).toBe("DELTA");
    expect(meta?.prev_window).toBe(30);
    expect(missingMetadataFields(meta!)).toEqual([]);
    expect((await store.getMetadata(0))?.checkpoint_type).toBe("FULL");
  });

  it("downloads a FULL checkpoint verified against its manifest", async () => {
    const store = newStore("full");
    const dir = await store.getCheckpoint(0);
    expect(diffStates(await loadStateDict(dir), states.get(0)!)).toEqual([]);
    expect((await readFile(join(dir, "config.json"))).toString()).toBe('{"model_type":"qwen2"}');
    const local = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8"));
    expect(Object.keys(local.file_manifest).sort()).toEqual([
      "config.json",
      "model.safetensors",
      "tokenizer.json",
    ]);
    expect(await store.isCachedAndVerified(0)).toBe(true);
  });

  it("reconstructs a v2 → v3 → v3.1 delta chain byte-identically and caches it", async () => {
    const store = newStore("chain");
    const dir = await store.getCheckpoint(90);
    const model = await readFile(join(dir, "model.safetensors"));
    expect(model.equals(await expectedModelFile(states.get(90)!))).toBe(true);
    expect(await weightsHash(await loadStateDict(dir))).toBe(await weightsHash(states.get(90)!));
    // Non-weight files come from the base; the local metadata marks the reconstruction.
    expect(await readFile(join(dir, "tokenizer.json"), "utf8")).toBe("{}");
    const local = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8"));
    expect(local).toMatchObject({
      window: 90,
      checkpoint_type: "FULL",
      reconstructed_from_delta: true,
      original_anchor_window: 0,
    });
    // The FULL base was materialised on the way; no temporaries are left behind.
    expect((await readdir(join(root, "chain"))).filter((n) => n.endsWith(".partial"))).toEqual([]);
    expect(await store.isCachedAndVerified(0)).toBe(true);

    // A second store over the same cache serves it without downloading weights again.
    server.requests.length = 0;
    expect(await newStore("chain").getCheckpoint(90)).toBe(dir);
    expect(server.requests.filter((r) => r.method === "GET" && r.path.includes("/DELTA/"))).toEqual([]);
  });

  it("applies a single delta on top of a cached predecessor", async () => {
    const store = newStore("single");
    await store.getCheckpoint(30);
    server.requests.length = 0;
    const dir = await store.getCheckpoint(60);
    expect(diffStates(await loadStateDict(dir), states.get(60)!)).toEqual([]);
    const fetched = server.requests.filter(
      (r) => r.method === "GET" && /checkpoint-\d+\/(FULL|DELTA)\/(model|delta_sparse)/.test(r.path),
    );
    expect(fetched.map((r) => r.path)).toEqual([
      `/${BUCKET}/grail/checkpoints/checkpoint-60/DELTA/delta_sparse.bin.zst`,
    ]);
  });

  it("resumes a FULL download left half-done by an earlier process", async () => {
    const store = newStore("resume");
    const key = `${checkpointSubPrefix(0, "FULL")}/model.safetensors`;
    const full = (await clients.reader.download(key)).bytes;
    const stage = join(root, "resume", ".downloads", "checkpoint-0", "FULL", "model.safetensors");
    await mkdir(join(stage, ".."), { recursive: true });
    const head = await clients.reader.head(key);
    await writeFile(`${stage}.part`, full.subarray(0, 1000));
    await writeFile(
      `${stage}.part.json`,
      JSON.stringify({ bucket: BUCKET, key, size: full.length, etag: head!.etag ?? null }),
    );
    server.requests.length = 0;
    const dir = await store.getCheckpoint(0);
    expect(diffStates(await loadStateDict(dir), states.get(0)!)).toEqual([]);
    const modelGets = server.requests.filter(
      (r) => r.method === "GET" && r.path.endsWith("/model.safetensors"),
    );
    expect(modelGets.map((r) => r.range)).toEqual([`bytes=1000-${full.length - 1}`]);
  });

  it("rejects a tampered file by its manifest sha256 and installs nothing", async () => {
    states.set(120, mutateState(states.get(90)!, 300, 0.03));
    await publisher.publishDelta({
      ...common,
      window: 120,
      prevWindow: 90,
      anchorWindow: 0,
      prevState: states.get(90)!,
      state: states.get(120)!,
      format: "sparse_codec_v3.1",
    });
    const key = `${checkpointSubPrefix(120, "DELTA")}/delta_sparse.bin.zst`;
    const original = (await clients.reader.download(key)).bytes;
    const tampered = Buffer.from(original);
    tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 0xff;
    await clients.writer.putBytes(key, tampered);
    const store = newStore("tamper");
    const err = await store.getCheckpoint(120).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toMatch(/delta_sparse\.bin\.zst failed verification: sha256/);
    expect(
      (await readdir(join(root, "tamper"))).filter(
        (n) => n.startsWith("checkpoint-120") || n.startsWith("delta-"),
      ),
    ).toEqual([]);
    await clients.writer.putBytes(key, original);
  });

  it("stops a checkpoint's other downloads when one fails, so nothing keeps writing after the error", async () => {
    await publisher.publishFull({
      ...common,
      window: 900,
      state: states.get(0)!,
      modelName: "Qwen/Qwen2.5-0.5B-Instruct",
      extraFiles: {
        "config.json": Buffer.from('{"model_type":"qwen2"}'),
        "tokenizer.json": Buffer.from("{}"),
      },
    });
    const meta = JSON.parse(
      (await clients.reader.download(checkpointMetadataKey(900, "FULL"))).bytes.toString(),
    );
    const names = Object.keys(meta.file_manifest);
    expect(names.length).toBeGreaterThan(2);
    const prefix = checkpointSubPrefix(900, "FULL");
    await clients.writer.delete(`${prefix}/${names[0]}`);
    const store = new CheckpointStore({
      reader: clients.reader,
      cacheRoot: join(root, "stop"),
      fileConcurrency: 1,
    });
    const err = await store.getCheckpoint(900).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointNotFoundError);
    // The error comes once the downloads in flight are over, and nothing queued starts afterwards.
    const atError = server.requests.length;
    await new Promise((r) => setTimeout(r, 500));
    const later = server.requests.slice(atError).filter((r) => r.path.includes(`${prefix}/`));
    expect(later.map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  it("rejects a truncated zstd delta whose manifest matches (corrupt publish)", async () => {
    const key = `${checkpointSubPrefix(120, "DELTA")}/delta_sparse.bin.zst`;
    const original = (await clients.reader.download(key)).bytes;
    await republishFile(120, "DELTA", "delta_sparse.bin.zst", original.subarray(0, original.length - 40));
    const store = newStore("truncated");
    const err = await store.getCheckpoint(120).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeltaFormatError);
    expect((err as Error).message).toMatch(/checkpoint-120 DELTA is unusable: .*corrupt or truncated/);
    expect(await store.isCachedAndVerified(120)).toBe(false);
    await republishFile(120, "DELTA", "delta_sparse.bin.zst", original);
    expect(diffStates(await loadStateDict(await store.getCheckpoint(120)), states.get(120)!)).toEqual([]);
  });

  it("rejects a reconstruction whose weights hash differs from the metadata", async () => {
    states.set(150, mutateState(states.get(120)!, 301, 0.03));
    await publisher.publishDelta({
      ...common,
      window: 150,
      prevWindow: 120,
      anchorWindow: 0,
      prevState: states.get(120)!,
      state: states.get(150)!,
      format: "sparse_codec_v3",
    });
    const metaKey = checkpointMetadataKey(150, "DELTA");
    const meta = JSON.parse((await clients.reader.download(metaKey)).bytes.toString());
    meta.weights_hash = "0".repeat(32);
    await clients.writer.putBytes(metaKey, Buffer.from(JSON.stringify(meta)));
    const store = newStore("badhash");
    const err = await store.getCheckpoint(150).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeightsHashMismatchError);
    expect((err as Error).message).toMatch(
      /checkpoint-150 .* hashes to [0-9a-f]{32}, metadata weights_hash is 0{32}/,
    );
    expect(await readdir(join(root, "badhash"))).not.toContain("checkpoint-150");
    expect((await readdir(join(root, "badhash"))).filter((n) => n.endsWith(".partial"))).toEqual([]);
  });

  it("refuses a checkpoint that has no READY marker", async () => {
    const key = `${checkpointSubPrefix(180, "FULL")}/metadata.json`;
    await clients.writer.putBytes(
      key,
      Buffer.from(JSON.stringify({ window: 180, file_manifest: { "x.bin": "0".repeat(64) } })),
    );
    await expect(newStore("notready").getCheckpoint(180)).rejects.toBeInstanceOf(CheckpointNotFoundError);
  });

  it("cleans the cache by the retention rules and removes orphaned partials", async () => {
    const cache = join(root, "retention");
    const store = new CheckpointStore({ reader: clients.reader, cacheRoot: cache });
    for (const w of [0, 30, 270, 300, 570, 600, 630, 900])
      await mkdir(join(cache, `checkpoint-${w}`), { recursive: true });
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    await mkdir(join(cache, `checkpoint-930.${dead}.deadbeef.partial`));
    await mkdir(join(cache, `delta-930.${dead}.cafebabe.partial`));
    await mkdir(join(cache, `checkpoint-930.${process.pid}.0badf00d.partial`));
    await mkdir(join(cache, "checkpoint-960.nopid.partial"));
    await mkdir(join(cache, "checkpoint-990.alsonopid.partial"));
    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(cache, "checkpoint-990.alsonopid.partial"), old, old);
    await mkdir(join(cache, ".downloads", "checkpoint-300"), { recursive: true });
    const { removed } = await store.cleanupLocal(900);
    expect(removed.sort()).toEqual(
      [
        "checkpoint-300",
        "checkpoint-570",
        `checkpoint-930.${dead}.deadbeef.partial`,
        `delta-930.${dead}.cafebabe.partial`,
        "checkpoint-990.alsonopid.partial",
        ".downloads/checkpoint-300",
      ].sort(),
    );
    expect((await readdir(cache)).sort()).toEqual(
      [
        ".downloads",
        "checkpoint-0",
        "checkpoint-270",
        "checkpoint-30",
        `checkpoint-930.${process.pid}.0badf00d.partial`,
        "checkpoint-960.nopid.partial",
        "checkpoint-600",
        "checkpoint-630",
        "checkpoint-900",
      ].sort(),
    );
  });

  it("will not be built on the write client", () => {
    expect(() => new CheckpointStore({ reader: clients.writer, cacheRoot: root })).toThrow(/read client/);
  });
});
