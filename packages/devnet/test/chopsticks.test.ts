import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { WINDOW_LENGTH } from "@grail/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Devnet,
  devnetHotkey,
  localTrainerCheckpoints,
  startDevnet,
  TRAINER_BUCKET,
} from "../src/index.js";

let devnet: Devnet;
let cache: string;

describe("the local network on a real subtensor runtime (chopsticks, spec 218), its default chain", () => {
  beforeAll(async () => {
    cache = await mkdtemp(path.join(tmpdir(), "devnet-chopsticks-"));
    const miner = await devnetHotkey("chopsticks-miner");
    devnet = await startDevnet({
      blockTimeMs: 1_000,
      cacheDir: cache,
      minerHotkeys: [miner.ss58],
    });
  }, 240_000);

  afterAll(async () => {
    await devnet?.close();
    if (cache) await rm(cache, { recursive: true, force: true });
  });

  it("creates the subnet with the trainer at UID 0, registers the miner and reads the trainer's commitment", async () => {
    expect(devnet.chain.kind).toBe("chopsticks");
    expect(devnet.chainFallback).toBeNull();
    expect(devnet.chain.endpoint).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(await devnet.chain.uidOf(devnet.trainerHotkey)).toBe(0);
    const miner = await devnetHotkey("chopsticks-miner");
    expect(await devnet.chain.uidOf(miner.ss58)).toBe(1);
    const buckets = await devnet.chain.buckets();
    expect(buckets.get(0)?.bucket.name).toBe(TRAINER_BUCKET);

    // The miner's own commitment goes through the runtime's Commitments pallet.
    const m = devnet.buckets.miner;
    const creds = {
      accountId: m.accountId,
      readAccessKeyId: m.read.accessKeyId,
      readSecretAccessKey: m.read.secretAccessKey,
    };
    expect(await devnet.chain.commitCredentials(miner, creds)).toBe("committed");
    expect(await devnet.chain.commitCredentials(miner, creds)).toBe("unchanged");
    expect((await devnet.chain.buckets()).get(1)?.bucket.accessKeyId).toBe(m.read.accessKeyId);
  });

  it("builds a block every block time from the last block before a window, and the trainer publishes", async () => {
    const head = await devnet.chain.currentBlock();
    const next = await devnet.chain.waitForBlock(head + 2);
    expect(next).toBeGreaterThanOrEqual(head + 2);
    expect(await devnet.chain.blockHash(head + 1)).toMatch(/^0x[0-9a-f]{64}$/);
    const t1 = await devnet.chain.blockTimestampMs(head + 1);
    const t2 = await devnet.chain.blockTimestampMs(head + 2);
    expect(t2! - t1!).toBeGreaterThan(500);
    expect(devnet.firstWindow % WINDOW_LENGTH).toBe(0);
    const checkpoints = localTrainerCheckpoints(devnet, path.join(cache, "ckpt"));
    expect(await checkpoints.latestReadyCheckpoint(devnet.firstWindow)).toBe(
      devnet.firstWindow - WINDOW_LENGTH,
    );
  });
});

describe("a local network whose runtime cannot start", () => {
  it("runs the embedded chain instead and says why", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "devnet-fallback-"));
    const badSpec = path.join(dir, "not-a-chain-spec.json");
    await writeFile(badSpec, '{"name": "no genesis here"}');
    const lines: string[] = [];
    const fallback = await startDevnet({
      blockTimeMs: 200,
      chainSpec: badSpec,
      cacheDir: dir,
      log: (message) => lines.push(message),
    });
    try {
      expect(fallback.chain.kind).toBe("embedded");
      expect(fallback.chainFallback).toContain(badSpec);
      expect(lines).toContain(
        "the subtensor runtime could not start; the local network runs the embedded chain instead",
      );
      expect(await fallback.chain.uidOf(fallback.trainerHotkey)).toBe(0);
    } finally {
      await fallback.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
