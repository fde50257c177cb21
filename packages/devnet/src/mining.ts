import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { HotkeySigner } from "@grail/chain";
import { ChatTokenizer } from "@grail/generation";
import type { Logger } from "@grail/log";
import {
  type MiningEngineDeps,
  type ProofPoolOptions,
  SpoolingWindowSink,
  WindowFileWriter,
  type WorkerEntryPointPaths,
} from "@grail/pipeline";
import { createDualClients, WindowUploader } from "@grail/storage";
import { type DistributionScope, LocalValidator } from "@grail/validator";
import { type LocalBackends, localBackends } from "./backends.js";
import { TrainerCheckpoints } from "./checkpoints.js";
import type { Devnet } from "./devnet.js";
import { LocalEnvironments, localRandomness } from "./environments.js";
import { NotRegisteredError } from "./errors.js";

export interface LocalMiningOptions {
  signer: HotkeySigner;
  /** The proof worker's entry points (apps/worker). */
  entryPoints: WorkerEntryPointPaths;
  logger: Logger;
  /** Spool and checkpoint cache of this miner (kept apart from a real network's). */
  workDir: string;
  groupsPerBatch?: number;
  proofThreads?: number;
  pool?: Partial<ProofPoolOptions>;
  /** "thread" (default, as the miner) or "inline". */
  fileWriter?: "thread" | "inline";
}

export interface LocalMiningParts {
  uid: number;
  /** Everything the mining engine needs from the world, on the local network. */
  deps: Pick<
    MiningEngineDeps,
    "chain" | "randomness" | "checkpoints" | "startBackends" | "loadTokenizer" | "environments" | "sink"
  >;
  backends: LocalBackends;
  close(): Promise<void>;
}

/**
 * The miner's start-up on the local network and the ports of its mining engine: the registration
 * check and the credential commitment of the miner bucket, the spooling uploader to that bucket,
 * the trainer's checkpoints as UID 0 committed them, the native generation server and the proof
 * worker, and the environments over the network's problem sets.
 */
export async function localMiningParts(
  devnet: Devnet,
  options: LocalMiningOptions,
): Promise<LocalMiningParts> {
  const { signer, logger } = options;
  const uid = await devnet.chain.uidOf(signer.ss58);
  if (uid === null) {
    throw new NotRegisteredError(
      `hotkey ${signer.ss58} is not registered on the local subnet; pass it in startDevnet's minerHotkeys or call registerMiner`,
      { hotkey: signer.ss58 },
    );
  }
  const bucket = devnet.buckets.miner;
  const commitment = await devnet.chain.commitCredentials(signer, {
    accountId: bucket.accountId,
    readAccessKeyId: bucket.read.accessKeyId,
    readSecretAccessKey: bucket.read.secretAccessKey,
  });
  logger.info("local credential commitment", { uid, status: commitment });

  const { writer } = createDualClients({
    accountId: bucket.accountId,
    bucket: bucket.name,
    ...devnet.storeLocation,
    read: bucket.read,
    write: bucket.write,
  });
  const spoolDir = path.join(options.workDir, "spool");
  await mkdir(spoolDir, { recursive: true });
  const fileWriter = WindowFileWriter.create(options.fileWriter ?? "thread");
  const sink = new SpoolingWindowSink({
    writer: fileWriter,
    uploader: new WindowUploader({ writer, spoolDir }),
    logger: logger.child({ component: "upload" }),
  });
  const backends = localBackends({
    generation: devnet.generation,
    backend: devnet.backend,
    signer,
    entryPoints: options.entryPoints,
    logger,
    groupsPerBatch: options.groupsPerBatch ?? 1,
    ...(options.proofThreads ? { proofThreads: options.proofThreads } : {}),
    ...(options.pool ? { pool: options.pool } : {}),
  });
  const environments = new LocalEnvironments(devnet.datasets);
  return {
    uid,
    deps: {
      chain: devnet.chain,
      randomness: localRandomness(),
      checkpoints: new TrainerCheckpoints({
        chain: devnet.chain,
        location: devnet.storeLocation,
        cacheRoot: path.join(options.workDir, "checkpoints"),
      }),
      startBackends: backends.start,
      loadTokenizer: (dir) => ChatTokenizer.fromDir(dir),
      environments: environments.factory,
      sink,
    },
    backends,
    async close() {
      await sink.close();
      await fileWriter.close();
      await backends.stop();
      await environments.close();
    },
  };
}

export interface DevnetValidatorOptions {
  cacheRoot: string;
  /** CPU threads of the validator's engine (leave cores to the miner). */
  threads?: number;
  distribution?: DistributionScope;
  progress?: (message: string) => void;
}

/**
 * The local validator pointed at the local network: block hashes and timestamps from its chain,
 * window files from the miner bucket (read keys as committed), the trainer's checkpoints through
 * its own cache, and its own environments.
 */
export function devnetValidator(
  devnet: Devnet,
  options: DevnetValidatorOptions,
): { validator: LocalValidator; close(): Promise<void> } {
  const environments = new LocalEnvironments(devnet.datasets);
  const validator = new LocalValidator({
    chain: devnet.chain,
    minerStore: devnet.minerBucketReader(),
    checkpoints: new TrainerCheckpoints({
      chain: devnet.chain,
      location: devnet.storeLocation,
      cacheRoot: options.cacheRoot,
    }),
    environments: environments.factory,
    engine: { backend: devnet.backend, ...(options.threads ? { threads: options.threads } : {}) },
    ...(options.distribution ? { distribution: options.distribution } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
  });
  return {
    validator,
    async close() {
      validator.close();
      await environments.close();
    },
  };
}
