import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { type HotkeySigner, KeyringHotkeySigner } from "@grail/chain";
import { localChainSpec } from "@grail/chain/testing";
import { availableBackends } from "@grail/engine-native";
import {
  bundledDatasetStore,
  CacheDirectorySource,
  createEnvironment,
  DatasetStore,
  type FetchDatasetsOptions,
  provisionDatasets,
} from "@grail/environments";
import { WINDOW_LENGTH, windowStart } from "@grail/protocol";
import { createDualClients, type ObjectStoreClient, type ObjectStoreLocation } from "@grail/storage";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { startChopsticksChain } from "./chain/chopsticks-chain.js";
import { EmbeddedChain } from "./chain/embedded-chain.js";
import { embeddedLocalChain, type LocalChain, type LocalChainKind } from "./chain/local-chain.js";
import { DevnetStartError } from "./errors.js";
import { type LocalBucket, type LocalObjectStore, startLocalObjectStore } from "./store/object-store.js";
import { buildTinyModel, type TinyModelOptions } from "./trainer/tiny-model.js";
import { DevnetTrainer, type TrainerTask } from "./trainer/trainer.js";

export type DevnetLog = (message: string, fields?: Record<string, unknown>) => void;

export interface DevnetOptions {
  /** Block time of the local chain. Default 2 s (a 60 s window). */
  blockTimeMs?: number;
  /**
   * The chain: "chopsticks" (default) runs the real subtensor runtime from `chainSpec`; "embedded" is
   * the in-process block clock. When the runtime cannot start, the embedded chain takes over and
   * the reason is logged and kept in `Devnet.chainFallback`.
   */
  chain?: LocalChainKind;
  /** Raw subtensor chain spec for chopsticks (the miner passes GRAIL_DEVNET_CHAIN_SPEC). Default: the shipped spec 218. */
  chainSpec?: string;
  /** Where the object store's files live with `persistStore` (the miner passes `<GRAIL_CACHE_DIR>/devnet`). */
  cacheDir?: string;
  /** Keep the object store's files in `<cacheDir>/s3` instead of a temporary directory. */
  persistStore?: boolean;
  /** Hotkeys registered on the subnet before the first block (the miner's). */
  minerHotkeys?: readonly string[];
  /** Overrides of what the trainer's checkpoints ask for (env, sampling policy, thinking mode). */
  task?: Partial<TrainerTask>;
  model?: TinyModelOptions;
  /**
   * Problem sets: the bundled problem set (default), a store, or `{ real }`: the four datasets,
   * provisioned into `real.dataDir` from the hub (fetched when missing or corrupt) before anything
   * starts, as a real-network miner does.
   */
  datasets?: DatasetStore | { readonly real: FetchDatasetsOptions };
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
  /** Why the embedded chain runs although the real runtime was asked for; null when it was not. */
  readonly chainFallback: string | null;
  readonly store: LocalObjectStore;
  readonly trainer: DevnetTrainer;
  readonly trainerHotkey: string;
  readonly buckets: { readonly trainer: LocalBucket; readonly miner: LocalBucket };
  /** Where every client of the local store points (path-style, any region). */
  readonly storeLocation: Required<Pick<ObjectStoreLocation, "endpointUrl" | "region" | "forcePathStyle">>;
  readonly task: TrainerTask;
  readonly datasets: DatasetStore;
  /** Where the problems come from: the bundled set, the provisioned real datasets, or the caller's store. */
  readonly datasetsSource: "bundled" | "real" | "given";
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

/** The chain spec to run under chopsticks: the option, or the shipped spec 218. */
export function resolveChainSpec(options: Pick<DevnetOptions, "chainSpec">): string {
  return options.chainSpec ? path.resolve(options.chainSpec) : localChainSpec();
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

/** The problem sets of the local network; the real datasets are provisioned (and checked to load) first. */
async function localDatasets(
  choice: DevnetOptions["datasets"],
  task: TrainerTask,
  log: DevnetLog,
): Promise<{ store: DatasetStore; source: Devnet["datasetsSource"] }> {
  if (!choice) return { store: bundledDatasetStore(), source: "bundled" };
  if (!("real" in choice)) return { store: choice, source: "given" };
  const done = await provisionDatasets(choice.real);
  log("datasets provisioned", {
    fetched: done.filter((d) => d.fetched).map((d) => d.dataset),
    dataDir: choice.real.dataDir,
  });
  const store = new DatasetStore(new CacheDirectorySource(choice.real.dataDir));
  await createEnvironment(task.envId, task.envParams, { datasets: store }).size();
  return { store, source: "real" };
}

/**
 * The real runtime under chopsticks unless the embedded chain is asked for; a runtime that cannot
 * start leaves the embedded chain in its place, with the reason returned so it can be announced.
 */
async function startLocalChain(
  options: DevnetOptions,
  blockTimeMs: number,
  trainerHotkey: string,
  log: DevnetLog,
): Promise<{ chain: LocalChain; fallback: string | null }> {
  const hotkeys = options.minerHotkeys ?? [];
  let fallback: string | null = null;
  if ((options.chain ?? "chopsticks") === "chopsticks") {
    try {
      const chainSpec = resolveChainSpec(options);
      log("starting the subtensor runtime under chopsticks", { chainSpec });
      const chain = await startChopsticksChain({
        genesis: chainSpec,
        blockTimeMs,
        trainerHotkey,
        hotkeys,
        log,
      });
      return { chain, fallback: null };
    } catch (err) {
      fallback = (err as Error).message;
      log("the subtensor runtime could not start; the local network runs the embedded chain instead", {
        reason: fallback,
      });
    }
  }
  const chain = embeddedLocalChain(new EmbeddedChain({ blockTimeMs, startBlock: 2 * WINDOW_LENGTH - 1 }));
  await chain.register(trainerHotkey);
  for (const hotkey of hotkeys) await chain.register(hotkey);
  return { chain, fallback };
}

/**
 * Starts the embedded local network, needing nothing from the internet: a chain (the real
 * subtensor runtime under chopsticks from the shipped chain spec, or the embedded block clock) with the trainer at UID 0 and the given miner hotkeys registered; an S3-compatible store
 * on 127.0.0.1 with a trainer and a miner bucket; the trainer's credential commitment; and the
 * trainer publishing the tiny model (FULL, then a DELTA every window). Blocks start once
 * everything is in place; the first minable window begins with the first block.
 */
export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const log = options.log ?? (() => undefined);
  const blockTimeMs = options.blockTimeMs ?? 2_000;
  const task: TrainerTask = { ...DEVNET_TASK, ...options.task };
  // Before anything starts: a network whose windows cannot build their problems is no network.
  const datasets = await localDatasets(options.datasets, task, log);
  const cleanups: (() => Promise<unknown>)[] = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    if (options.persistStore && !options.cacheDir) {
      throw new DevnetStartError("persistStore keeps the store's files under cacheDir: pass cacheDir", {
        part: "store",
      });
    }
    const store = await startLocalObjectStore({
      buckets: [TRAINER_BUCKET, MINER_BUCKET],
      ...(options.persistStore && options.cacheDir ? { dir: path.join(options.cacheDir, "s3") } : {}),
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
    const { chain, fallback: chainFallback } = await startLocalChain(
      options,
      blockTimeMs,
      trainerSigner.ss58,
      log,
    );
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

    const backend = availableBackends().cuda.available ? "cuda" : "cpu";
    const generation = {
      command: [process.execPath, generationServerCli()],
      extraArgs: ["--backend", backend],
    };

    chain.start();
    log("local network started", {
      chain: chain.kind,
      ...(chainFallback ? { chainFallback } : {}),
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
      chainFallback,
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
