import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadModel } from "@grail/engine-native";
import { WINDOW_LENGTH } from "@grail/protocol";
import {
  CheckpointStore,
  CredentialsError,
  createDualClients,
  loadStateDict,
  weightsHash,
} from "@grail/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Devnet, devnetHotkey, MINER_BUCKET, startDevnet, TRAINER_BUCKET } from "../src/index.js";

let devnet: Devnet;
let cache: string;
let minerHotkey: string;

beforeAll(async () => {
  cache = await mkdtemp(path.join(tmpdir(), "devnet-test-"));
  minerHotkey = (await devnetHotkey("test-miner")).ss58;
  devnet = await startDevnet({
    blockTimeMs: 100,
    chain: "embedded",
    cacheDir: cache,
    minerHotkeys: [minerHotkey],
  });
}, 120_000);

afterAll(async () => {
  await devnet?.close();
  await rm(cache, { recursive: true, force: true });
});

describe("the embedded local network", () => {
  it("registers the trainer at UID 0 and the miner after it, and publishes the trainer's bucket", async () => {
    expect(await devnet.chain.uidOf(devnet.trainerHotkey)).toBe(0);
    expect(await devnet.chain.uidOf(minerHotkey)).toBe(1);
    const buckets = await devnet.chain.buckets();
    const trainer = buckets.get(0);
    expect(trainer?.hotkey).toBe(devnet.trainerHotkey);
    expect(trainer?.bucket.name).toBe(TRAINER_BUCKET);
    expect(trainer?.bucket.accessKeyId).toBe(devnet.buckets.trainer.read.accessKeyId);
    expect(buckets.has(1)).toBe(false);
  });

  it("produces blocks with deterministic 0x-hashes and wall-clock timestamps", async () => {
    const head = await devnet.chain.currentBlock();
    await devnet.chain.waitForBlock(head + 2);
    const hash = await devnet.chain.blockHash(head + 1);
    expect(hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await devnet.chain.blockHash(head + 1)).toBe(hash);
    const t1 = await devnet.chain.blockTimestampMs(head + 1);
    const t2 = await devnet.chain.blockTimestampMs(head + 2);
    expect(t2! - t1!).toBeGreaterThan(50);
    await expect(devnet.chain.blockHash(head + 10_000)).rejects.toThrow(/does not exist yet/);
  });

  it("lets read keys only read their own bucket and write keys only write their own", async () => {
    const { reader } = createDualClients({
      accountId: TRAINER_BUCKET,
      bucket: TRAINER_BUCKET,
      ...devnet.storeLocation,
      read: devnet.buckets.trainer.read,
      write: devnet.buckets.trainer.write,
    });
    const keys = await reader.list("grail/checkpoints/");
    expect(keys.length).toBeGreaterThan(0);
    // The miner's write key aimed at the trainer's bucket is refused by the store itself.
    const { writer: foreign } = createDualClients({
      accountId: TRAINER_BUCKET,
      bucket: TRAINER_BUCKET,
      ...devnet.storeLocation,
      read: devnet.buckets.miner.read,
      write: devnet.buckets.miner.write,
    });
    await expect(foreign.putBytes("grail/x", new Uint8Array([1]))).rejects.toBeInstanceOf(CredentialsError);
    const { writer: own } = createDualClients({
      accountId: MINER_BUCKET,
      bucket: MINER_BUCKET,
      ...devnet.storeLocation,
      read: devnet.buckets.miner.read,
      write: devnet.buckets.miner.write,
    });
    await own.putBytes("grail/x", new Uint8Array([1]));
  });

  it("publishes a FULL checkpoint, then DELTAs that reconstruct to the trainer's weights", async () => {
    const first = devnet.firstWindow - WINDOW_LENGTH;
    expect(devnet.trainer.published[0]).toMatchObject({ window: first, type: "FULL" });
    const store = new CheckpointStore({
      reader: devnet.trainerBucketReader(),
      cacheRoot: path.join(cache, "ckpt"),
    });
    expect(await store.latestReadyCheckpoint(devnet.firstWindow)).toBe(first);
    const meta = await store.getMetadata(first);
    expect(meta).toMatchObject({
      env_id: "gsm8k",
      thinking_mode: "instructed",
      model_name: "grail-devnet/qwen3-tiny",
    });
    expect(meta?.generation_params).toMatchObject({ max_tokens: 40 });
    const fullDir = await store.getCheckpoint(first);

    await devnet.chain.waitForBlock(devnet.firstWindow + 1);
    while (devnet.trainer.published.length < 2) await sleep(50);
    const delta = devnet.trainer.published[1]!;
    expect(delta).toMatchObject({ window: devnet.firstWindow, type: "DELTA" });
    expect(delta.nonzero).toBeGreaterThan(0);
    expect(await store.latestReadyCheckpoint(devnet.firstWindow + WINDOW_LENGTH)).toBe(devnet.firstWindow);
    const deltaDir = await store.getCheckpoint(devnet.firstWindow);
    expect(await weightsHash(await loadStateDict(deltaDir))).toBe(delta.weightsHash);

    // The checkpoint is a real model the engine loads, with the Qwen3 tokenizer's vocabulary.
    const model = await loadModel(fullDir, { backend: "cpu", threads: 1 });
    try {
      expect(model.info.vocabSize).toBe(151936);
      expect(model.info.eosTokenId).toBe(151645);
    } finally {
      model.close();
    }
  });
});
