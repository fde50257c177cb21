import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import path from "node:path";
import { type HotkeySigner, KeyringHotkeySigner } from "@grail/chain";
import { availableBackends } from "@grail/engine-native";
import {
  bundledDatasetStore,
  CacheDirectorySource,
  createEnvironment,
  DatasetStore,
} from "@grail/environments";
import { WINDOW_LENGTH, windowStart } from "@grail/protocol";
import { createDualClients, type ObjectStoreClient, type ObjectStoreLocation } from "@grail/storage";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { startChopsticksChain } from "./chain/chopsticks-chain.js";
import { EmbeddedChain } from "./chain/embedded-chain.js";
import { embeddedLocalChain, type LocalChain } from "./chain/local-chain.js";
import { DevnetStartError } from "./errors.js";
import { type LocalBucket, type LocalObjectStore, startLocalObjectStore } from "./store/object-store.js";
import { buildTinyModel, type TinyModelOptions } from "./trainer/tiny-model.js";
import { DevnetTrainer, type TrainerTask } from "./trainer/trainer.js";

export type DevnetLog = (message: string, fields?: Record<string, unknown>) => void;

export interface DevnetOptions {
  /** Block time of the local chain. Default 2 s (a 60 s window). */
  blockTimeMs?: number;
  /**
   * A raw subtensor chain spec: when set (or GRAIL_DEVNET_CHAIN_SPEC names one, or
   * `<cacheDir>/chain-spec.json` exists) the chain is the real runtime under chopsticks.
   * `false` forces the embedded chain.
   */
  chainSpec?: string | false;
  /** Where a cached chain spec and the object store's files live. Default ~/.cache/grail-ts/devnet. */
  cacheDir?: string;
  /** Keep the object store's files in `<cacheDir>/s3` instead of a temporary directory. */
  persistStore?: boolean;
  /** Hotkeys registered on the subnet before the first block (the miner's). */
  minerHotkeys?: readonly string[];
  /** Overrides of what the trainer's checkpoints ask for (env, sampling policy, thinking mode). */
  task?: Partial<TrainerTask>;
  model?: TinyModelOptions;
  /** Problem sets; default: the real datasets when cached, else the bundled problem set. */
  datasets?: DatasetStore;
  env?: NodeJS.ProcessEnv;
  log?: DevnetLog;
}

/** The sampling policy and task of the local network: small completions, so CPU windows are quick. */
export const DEVNET_TASK: TrainerTask = {
  envId: "gsm8k",
  envParams: { split: "train" },
  thinkingMode: "instructed",
  generationParams: { max_tokens: 40, temperature: 0.7, top_p: 0.9, top_k: 50, repetition_penalty: 1.1 },
};

export const TRAINER_BUCKET = "grail-devnet-trainer";
export const MINER_BUCKET = "grail-devnet-miner";

export interface Devnet {
  readonly chain: LocalChain;
  readonly store: LocalObjectStore;
  readonly trainer: DevnetTrainer;
  readonly trainerHotkey: string;
  readonly buckets: { readonly trainer: LocalBucket; readonly miner: LocalBucket };
  /** Where every client of the local store points (path-style, any region). */
  readonly storeLocation: Required<Pick<ObjectStoreLocation, "endpointUrl" | "region" | "forcePathStyle">>;
  readonly task: TrainerTask;
  readonly datasets: DatasetStore;
  /** "bundled" when the real datasets are not cached. */
  readonly datasetsSource: "bundled" | "cache";
  /** The first window a miner can mine (the one after the trainer's first checkpoint). */
  readonly firstWindow: number;
  /** How to launch the native generation server with the generation package's launchers. */
  readonly generation: { command: string[]; extraArgs: string[] };
  /** Engine backend of proof workers and the generation server: CUDA when present. */
  readonly backend: "cpu" | "cuda";
  /** Registers another hotkey on the subnet; returns its UID. */
  registerMiner(hotkey: string): Promise<number>;
  /** Read client of the miner bucket (what a validator gets from the miner's commitment). */
  minerBucketReader(): ObjectStoreClient;
  /** Read client of the trainer bucket. */
  trainerBucketReader(): ObjectStoreClient;
  close(): Promise<void>;
}

/** A throwaway sr25519 hotkey of the local network, derived from a public dev phrase. */
export async function devnetHotkey(name: string): Promise<HotkeySigner> {
  await cryptoWaitReady();
  return new KeyringHotkeySigner(
    new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(`//GrailDevnet/${name}`),
  );
}

export function defaultDevnetCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.GRAIL_CACHE_DIR ?? path.join(homedir(), ".cache", "grail-ts");
  return path.join(root, "devnet");
}

/** The chain spec to run under chopsticks, or null for the embedded chain. */
export function resolveChainSpec(
  options: Pick<DevnetOptions, "chainSpec" | "cacheDir" | "env">,
): string | null {
  if (options.chainSpec === false) return null;
  if (options.chainSpec) return path.resolve(options.chainSpec);
  const env = options.env ?? process.env;
  if (env.GRAIL_DEVNET_CHAIN_SPEC) return path.resolve(env.GRAIL_DEVNET_CHAIN_SPEC);
  const cached = path.join(options.cacheDir ?? defaultDevnetCacheDir(env), "chain-spec.json");
  return existsSync(cached) ? cached : null;
}

/** Root directory of an installed workspace package (the folder holding its package.json). */
function packageRoot(name: string): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve(name));
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new DevnetStartError(`cannot locate the ${name} package`, { part: "generation" });
    dir = parent;
  }
  return dir;
}

/** The native generation server's CLI (the generation package's `grail-generation-server` bin). */
export function generationServerCli(): string {
  const root = packageRoot("@grail/generation");
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
    bin?: Record<string, string>;
  };
  const cli = path.join(root, pkg.bin?.["grail-generation-server"] ?? "dist/native/cli.js");
  if (!existsSync(cli)) {
    throw new DevnetStartError(
      `the native generation server is not built (${cli} is missing); run \`pnpm build\` first`,
      { part: "generation", cli },
    );
  }
  return cli;
}

async function chooseDatasets(
  task: TrainerTask,
  log: DevnetLog,
): Promise<{ store: DatasetStore; source: "bundled" | "cache" }> {
  const cached = new DatasetStore(new CacheDirectorySource());
  try {
    await createEnvironment(task.envId, task.envParams, { datasets: cached }).size();
    return { store: cached, source: "cache" };
  } catch (err) {
    log("real datasets are not cached; using the bundled problem set", {
      env: task.envId,
      reason: (err as Error).message,
    });
    return { store: bundledDatasetStore(), source: "bundled" };
  }
}

/**
 * Starts the embedded local network, needing nothing from the internet: a chain (the embedded
 * block clock, or a real subtensor runtime under chopsticks when a chain spec is configured or
 * cached) with the trainer at UID 0 and the given miner hotkeys registered; an S3-compatible store
 * on 127.0.0.1 with a trainer and a miner bucket; the trainer's credential commitment; and the
 * trainer publishing the tiny model (FULL, then a DELTA every window). Blocks start once
 * everything is in place; the first minable window begins with the first block.
 */
export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const log = options.log ?? (() => undefined);
  const blockTimeMs = options.blockTimeMs ?? 2_000;
  const cacheDir = options.cacheDir ?? defaultDevnetCacheDir(options.env);
  const task: TrainerTask = { ...DEVNET_TASK, ...options.task };
  const cleanups: (() => Promise<unknown>)[] = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const store = await startLocalObjectStore({
      buckets: [TRAINER_BUCKET, MINER_BUCKET],
      ...(options.persistStore ? { dir: path.join(cacheDir, "s3") } : {}),
    });
    cleanups.push(() => store.close());
    const storeLocation = { endpointUrl: store.endpointUrl, region: "us-east-1", forcePathStyle: true };
    const client = (bucket: LocalBucket, role: "read" | "write") => {
      const { reader, writer } = createDualClients({
        accountId: bucket.accountId,
        bucket: bucket.name,
        ...storeLocation,
        read: bucket.read,
        write: bucket.write,
      });
      return role === "read" ? reader : writer;
    };

    const model = await buildTinyModel(options.model);
    const trainerSigner = await devnetHotkey("trainer");
    const chainSpec = resolveChainSpec({ ...options, cacheDir });
    let chain: LocalChain;
    if (chainSpec) {
      log("starting the subtensor runtime under chopsticks", { chainSpec });
      chain = await startChopsticksChain({
        genesis: chainSpec,
        blockTimeMs,
        trainerHotkey: trainerSigner.ss58,
        hotkeys: options.minerHotkeys ?? [],
        log,
      });
    } else {
      const embedded = new EmbeddedChain({ blockTimeMs, startBlock: 2 * WINDOW_LENGTH - 1 });
      chain = embeddedLocalChain(embedded);
      await chain.register(trainerSigner.ss58);
      for (const hotkey of options.minerHotkeys ?? []) await chain.register(hotkey);
    }
    cleanups.push(() => chain.close());
    const trainerUid = await chain.uidOf(trainerSigner.ss58);
    if (trainerUid !== 0) {
      throw new DevnetStartError(`the trainer's hotkey got UID ${trainerUid}, not 0`, { part: "chain" });
    }

    const trainerBucket = store.bucket(TRAINER_BUCKET);
    await chain.commitCredentials(trainerSigner, {
      accountId: trainerBucket.accountId,
      readAccessKeyId: trainerBucket.read.accessKeyId,
      readSecretAccessKey: trainerBucket.read.secretAccessKey,
    });

    const trainer = new DevnetTrainer({ writer: client(trainerBucket, "write"), model, task, log });
    const head = await chain.currentBlock();
    await trainer.publish(windowStart(head));
    const firstWindow = windowStart(head) + WINDOW_LENGTH;
    const stopTrainer = chain.onBlock((block) => {
      if (block % WINDOW_LENGTH !== 0) return;
      trainer
        .publish(block)
        .catch((err: Error) => log("trainer publish failed", { window: block, error: err.message }));
    });
    cleanups.push(async () => stopTrainer());

    const datasets = options.datasets
      ? { store: options.datasets, source: "cache" as const }
      : await chooseDatasets(task, log);
    const backend = availableBackends().cuda.available ? "cuda" : "cpu";
    const generation = {
      command: [process.execPath, generationServerCli()],
      extraArgs: ["--backend", backend],
    };

    chain.start();
    log("local network started", {
      chain: chain.kind,
      endpoint: chain.endpoint,
      netuid: chain.netuid,
      blockTimeMs,
      store: store.endpointUrl,
      firstWindow,
      env: task.envId,
      datasets: datasets.source,
      backend,
    });
    return {
      chain,
      store,
      trainer,
      trainerHotkey: trainerSigner.ss58,
      buckets: { trainer: trainerBucket, miner: store.bucket(MINER_BUCKET) },
      storeLocation,
      task,
      datasets: datasets.store,
      datasetsSource: datasets.source,
      firstWindow,
      generation,
      backend,
      registerMiner: (hotkey) => chain.register(hotkey),
      minerBucketReader: () => client(store.bucket(MINER_BUCKET), "read"),
      trainerBucketReader: () => client(trainerBucket, "read"),
      close: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
