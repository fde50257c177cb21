import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { WINDOW_LENGTH, windowDeadlineSeconds, windowStart } from "@grail/protocol";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady, mnemonicGenerate } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BlockNotFoundError,
  buildCredentialCommitment,
  ChainCallError,
  ExtrinsicFailedError,
  ensureCredentialsCommitted,
  HotkeyNotRegisteredError,
  type HotkeySigner,
  KeyringHotkeySigner,
  loadHotkey,
  type ReadCredentials,
  readCommitAllowance,
  readCommitmentText,
  readNeuronHotkeys,
  readSubnetSize,
  readUid,
  runMinerChainStartup,
  SubtensorClient,
  submitCommitment,
  WindowClock,
} from "../src/index.js";
import {
  burnedRegister,
  fundAccounts,
  type LocalChopsticks,
  registerSubnet,
  startLocalChopsticks,
} from "../src/testing/index.js";
import { raonetSpec } from "./fixtures.js";

const TRAINER_CREDENTIALS: ReadCredentials = {
  accountId: "7a1e5c0ffee0000000000000000000aa",
  readAccessKeyId: "71a1e0000000000000000000000000bb",
  readSecretAccessKey: "5ec7e7".padEnd(64, "c"),
};
const MINER_CREDENTIALS: ReadCredentials = {
  accountId: "0123456789abcdef0123456789abcdef",
  readAccessKeyId: "fedcba9876543210fedcba9876543210",
  readSecretAccessKey: "0123456789abcdef".repeat(4),
};

async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(10);
  }
}

/**
 * A loopback TCP proxy that can cut every connection, refuse new ones (a node going
 * away), or silently stop forwarding on the open ones (a half-open socket).
 */
async function startDroppingProxy(targetPort: number) {
  const links = new Set<{ down: Socket; up: Socket; stalled: boolean }>();
  let refusing = false;
  let refused = 0;
  const server: Server = createServer((down) => {
    if (refusing) {
      refused++;
      down.destroy();
      return;
    }
    const link = { down, up: connect(targetPort, "127.0.0.1"), stalled: false };
    links.add(link);
    const end = () => {
      link.down.destroy();
      link.up.destroy();
      links.delete(link);
    };
    link.down.on("data", (chunk) => link.stalled || link.up.write(chunk));
    link.up.on("data", (chunk) => link.stalled || link.down.write(chunk));
    for (const s of [link.down, link.up]) {
      s.on("close", end);
      s.on("error", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const destroyAll = () => {
    for (const link of links) {
      link.down.destroy();
      link.up.destroy();
    }
  };
  return {
    port: (server.address() as { port: number }).port,
    get refused() {
      return refused;
    },
    refuse(on: boolean) {
      refusing = on;
    },
    dropAll: destroyAll,
    stallExisting() {
      for (const link of links) link.stalled = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll();
        server.close(() => resolve());
      }),
  };
}

let chopsticks: LocalChopsticks;
let client: SubtensorClient;
let coldkey: KeyringPair;
let trainer: HotkeySigner;
let miner: HotkeySigner;
let netuid: number;
let walletRoot: string;

beforeAll(async () => {
  chopsticks = await startLocalChopsticks({ genesis: raonetSpec });
  client = await SubtensorClient.connect({
    url: chopsticks.endpoint,
    callPolicy: { timeoutMs: 30_000, attempts: 2, backoffBaseMs: 50 },
  });
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  coldkey = keyring.addFromUri("//GrailTestColdkey");
  trainer = new KeyringHotkeySigner(keyring.addFromUri("//GrailTestTrainer"));

  // The miner's hotkey comes from a btwallet keyfile, as in production.
  walletRoot = await mkdtemp(path.join(tmpdir(), "grail-chain-it-"));
  await mkdir(path.join(walletRoot, "miner", "hotkeys"), { recursive: true });
  await writeFile(
    path.join(walletRoot, "miner", "hotkeys", "default"),
    JSON.stringify({ secretPhrase: mnemonicGenerate(12) }),
  );
  miner = (await loadHotkey({ walletRoot, walletName: "miner", hotkeyName: "default", env: {} })).signer;

  await fundAccounts(chopsticks, [coldkey.address]);
  netuid = await registerSubnet(chopsticks, client.api, coldkey, trainer.ss58);
}, 240_000);

afterAll(async () => {
  await client?.close();
  await chopsticks?.close();
  if (walletRoot) await rm(walletRoot, { recursive: true, force: true });
});

describe("a real subtensor runtime (spec 218 under chopsticks)", () => {
  it("runs the expected runtime and puts the subnet creator at UID 0", async () => {
    expect(client.api.runtimeVersion.specVersion.toNumber()).toBe(218);
    expect(await readUid(client.api, netuid, trainer.ss58)).toBe(0);
    expect(await readSubnetSize(client.api, netuid)).toBe(1);
  });

  it("looks up block hashes by number and treats unknown numbers as retryable misses", async () => {
    const head = await client.head();
    expect(head.hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await client.blockHash(head.number)).toBe(head.hash);
    const rpcHash = await chopsticks.rpc<string>("chain_getBlockHash", [head.number - 1]);
    expect(await client.blockHash(head.number - 1)).toBe(rpcHash);
    const error = await client.blockHash(head.number + 50).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainCallError);
    expect((error as ChainCallError).cause).toBeInstanceOf(BlockNotFoundError);
  });

  it("follows the window clock while blocks advance, with deadlines from block timestamps", async () => {
    const clock = new WindowClock(client, { pollIntervalMs: 50 });
    const heads: number[] = [];
    const unsubscribe = await client.subscribeNewHeads((h) => heads.push(h.number));

    const start = await clock.position();
    expect(start.windowStart).toBe(windowStart(start.block));
    const future = await clock.deadline(start.windowStart);
    expect(future.estimated).toBe(true);
    const headTs = await client.blockTimestampMs((await client.head()).hash);
    const nextStart = start.windowStart + WINDOW_LENGTH;
    expect(future.nextWindowTimestampMs).toBe(headTs + (nextStart - start.block) * 12_000);

    let resolved = false;
    const waiting = clock.waitForNextWindow(start.windowStart).then((p) => {
      resolved = true;
      return p;
    });
    await chopsticks.newBlock(1);
    // Jump to the window's last block instead of building every block in between.
    await chopsticks.newBlock(1, { unsafeBlockHeight: nextStart - 1 });
    await sleep(200);
    expect(resolved).toBe(false);
    await chopsticks.newBlock(1);
    const next = await waiting;
    expect(next).toEqual({ block: nextStart, windowStart: nextStart });
    unsubscribe();
    expect(heads).toContain(nextStart);

    const measured = await clock.deadline(start.windowStart);
    const nextTs = await client.blockTimestampMs(await client.blockHash(nextStart));
    expect(measured).toEqual({
      deadlineSeconds: windowDeadlineSeconds(nextTs),
      nextWindowTimestampMs: nextTs,
      estimated: false,
    });
  }, 120_000);

  it("reconnects to the same URL with backoff after the socket drops, and resumes head subscriptions", async () => {
    const proxy = await startDroppingProxy(chopsticks.port);
    const viaProxy = await SubtensorClient.connect({
      url: `ws://127.0.0.1:${proxy.port}`,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      callPolicy: { timeoutMs: 10_000, attempts: 5, backoffBaseMs: 100 },
    });
    try {
      const heads: number[] = [];
      const unsubscribe = await viaProxy.subscribeNewHeads((h) => heads.push(h.number));
      const before = await viaProxy.currentBlock();

      proxy.refuse(true);
      proxy.dropAll();
      await waitUntil(() => !viaProxy.isConnected);
      await waitUntil(() => proxy.refused >= 2); // several failed attempts while the node is "down"
      proxy.refuse(false);
      await waitUntil(() => viaProxy.isConnected);
      expect(viaProxy.reconnectCount).toBeGreaterThanOrEqual(3);

      await chopsticks.newBlock(1);
      expect(await viaProxy.currentBlock()).toBe(before + 1);
      await waitUntil(() => heads.includes(before + 1));
      unsubscribe();
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  }, 60_000);

  it("replaces a connection that stays open but stops answering", async () => {
    const proxy = await startDroppingProxy(chopsticks.port);
    const viaProxy = await SubtensorClient.connect({
      url: `ws://127.0.0.1:${proxy.port}`,
      // generous enough for a loaded CI machine; the stalled calls each wait this long
      callPolicy: { timeoutMs: 2_000, attempts: 1, backoffBaseMs: 10 },
      rebuildAfterFailures: 2,
    });
    try {
      const heads: number[] = [];
      const unsubscribe = await viaProxy.subscribeNewHeads((h) => heads.push(h.number));
      const before = await viaProxy.currentBlock();

      proxy.stallExisting();
      await expect(viaProxy.currentBlock()).rejects.toBeInstanceOf(ChainCallError);
      expect(viaProxy.rebuildCount).toBe(0);
      await expect(viaProxy.currentBlock()).rejects.toBeInstanceOf(ChainCallError);
      await waitUntil(() => viaProxy.rebuildCount === 1);

      expect(await viaProxy.currentBlock()).toBe(before);
      await chopsticks.newBlock(1);
      await waitUntil(() => heads.includes(before + 1));
      unsubscribe();
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  }, 60_000);

  it("stops an unregistered miner with a clear message and exit code", async () => {
    const error = await runMinerChainStartup({
      client,
      signer: miner,
      netuid,
      credentials: MINER_CREDENTIALS,
      hint: { walletName: "miner", hotkeyName: "default" },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HotkeyNotRegisteredError);
    expect((error as HotkeyNotRegisteredError).exitCode).toBe(1);
    expect((error as Error).message).toContain(`not registered on subnet ${netuid}`);
    expect((error as Error).message).toContain(
      `btcli subnet register --netuid ${netuid} --wallet.name miner --wallet.hotkey default`,
    );
  });

  it("registered: commits the credentials, reads them back, and skips an unchanged commitment", async () => {
    expect(await burnedRegister(chopsticks, client.api, coldkey, netuid, miner.ss58)).toBe(1);
    const stopBuilding = chopsticks.autoBuildBlocks();
    try {
      const trainerCommit = await ensureCredentialsCommitted(client, trainer, netuid, TRAINER_CREDENTIALS);
      expect(trainerCommit.status).toBe("committed");

      const first = await runMinerChainStartup({
        client,
        signer: miner,
        netuid,
        credentials: MINER_CREDENTIALS,
      });
      expect(first.uid).toBe(1);
      expect(first.commitment.status).toBe("committed");
      expect(first.trainer?.uid).toBe(0);
      expect(first.trainer?.hotkey).toBe(trainer.ss58);
      expect(first.trainer?.bucket).toEqual({
        name: TRAINER_CREDENTIALS.accountId,
        accountId: TRAINER_CREDENTIALS.accountId,
        accessKeyId: TRAINER_CREDENTIALS.readAccessKeyId,
        secretAccessKey: TRAINER_CREDENTIALS.readSecretAccessKey,
      });
      expect(first.buckets.byUid.get(1)?.bucket.accessKeyId).toBe(MINER_CREDENTIALS.readAccessKeyId);
      expect(await readNeuronHotkeys(client.api, netuid)).toEqual(
        new Map([
          [0, trainer.ss58],
          [1, miner.ss58],
        ]),
      );
      expect(await readCommitmentText(client.api, netuid, miner.ss58)).toBe(
        buildCredentialCommitment(MINER_CREDENTIALS),
      );

      const headBefore = await client.currentBlock();
      const second = await runMinerChainStartup({
        client,
        signer: miner,
        netuid,
        credentials: MINER_CREDENTIALS,
      });
      expect(second.commitment).toEqual({ status: "unchanged" });
      expect(await client.currentBlock()).toBe(headBefore);
    } finally {
      await stopBuilding();
    }
  }, 120_000);

  it("honours the runtime's block-based commit rate limit", async () => {
    const changed = { ...MINER_CREDENTIALS, readAccessKeyId: "00000000000000000000000000000001" };
    const head = await client.currentBlock();
    const allowance = await readCommitAllowance(client.api, netuid, miner.ss58, head + 1, 128);
    expect(allowance.allowed).toBe(false);
    if (allowance.limit.kind !== "blocks")
      throw new Error(`expected a block-based limit, got ${allowance.limit.kind}`);
    // read from the runtime: spec 218's Commitments.RateLimit constant
    expect(allowance.limit.rateLimitBlocks).toBe(client.api.consts.commitments!.rateLimit!.toJSON());
    const retryAt = allowance.retryAtBlock!;
    expect(retryAt).toBe(allowance.limit.lastCommitBlock! + allowance.limit.rateLimitBlocks);

    const limited = await ensureCredentialsCommitted(client, miner, netuid, changed);
    expect(limited).toMatchObject({ status: "rate-limited", retryAtBlock: retryAt });
    expect(await chopsticks.pendingExtrinsics()).toEqual([]);

    // Submitted anyway, the runtime refuses it with the error the spec names.
    const stopBuilding = chopsticks.autoBuildBlocks();
    try {
      const error = await submitCommitment(
        client,
        miner,
        netuid,
        new TextEncoder().encode("x".repeat(128)),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExtrinsicFailedError);
      expect((error as ExtrinsicFailedError).module).toBe("CommitmentSetRateLimitExceeded");
    } finally {
      await stopBuilding();
    }

    // Once the chain reaches the allowed block, the changed credentials go through.
    await chopsticks.newBlock(1, { unsafeBlockHeight: retryAt - 1 });
    const stop = chopsticks.autoBuildBlocks();
    try {
      const outcome = await ensureCredentialsCommitted(client, miner, netuid, changed);
      expect(outcome.status).toBe("committed");
      if (outcome.status === "committed") expect(outcome.blockNumber).toBe(retryAt);
      expect(await readCommitmentText(client.api, netuid, miner.ss58)).toBe(
        buildCredentialCommitment(changed),
      );
    } finally {
      await stop();
    }
  }, 120_000);
});
