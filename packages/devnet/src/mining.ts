import path from "node:path";
import type { HotkeySigner } from "@grail/chain";
import type { Logger } from "@grail/log";
import { createMetrics, type MinerMetrics } from "@grail/metrics";
import { type EngineSettings, type MiningWiring, type ProofPoolOptions, wireMining } from "@grail/pipeline";
import { ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { createDualClients } from "@grail/storage";
import { type DistributionScope, LocalValidator } from "@grail/validator";
import { localTrainerCheckpoints } from "./checkpoints.js";
import type { Devnet } from "./devnet.js";
import { LocalEnvironments, localRandomness } from "./environments.js";
import { NotRegisteredError } from "./errors.js";

export interface LocalMiningOptions {
  signer: HotkeySigner;
  logger: Logger;
  /** Spool and checkpoint cache of this miner (kept apart from a real network's). */
  workDir: string;
  settings: EngineSettings;
  /** Default: no metrics. */
  metrics?: MinerMetrics;
  /** CPU threads of the proof worker; default all cores. */
  proofThreads?: number;
  pool?: Partial<ProofPoolOptions>;
  /** "thread" (default, as the miner) or "inline". */
  fileWriter?: "thread" | "inline";
  /** Interpreter of the code sandbox and the MATH judge (the miner's GRAIL_PYTHON setting). */
  python: string;
}

export interface LocalMiningParts extends MiningWiring {
  uid: number;
}

/**
 * The miner's start-up on the local network and the parts it passes to the one mining wiring: the
 * registration check and the credential commitment of the miner bucket, that bucket for uploads,
 * the trainer's checkpoints as UID 0 committed them, the local network's problem sets, its native
 * generation server and one in-process proof worker (CUDA when a GPU is present, else CPU).
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
  const wiring = await wireMining({
    chain: devnet.chain,
    randomness: localRandomness(),
    checkpoints: localTrainerCheckpoints(devnet, path.join(options.workDir, "checkpoints"), logger),
    datasets: devnet.datasets,
    python: options.python,
    upload: {
      writer,
      spoolDir: path.join(options.workDir, "spool"),
      ...(options.fileWriter ? { fileWriter: options.fileWriter } : {}),
    },
    generation: {
      backend: "sglang",
      launch: {
        gpuStart: 0,
        tp: 1,
        memFraction: 0.5,
        contextLength: 4096,
        disableCudaGraph: true,
        command: devnet.generation.command,
        extraArgs: devnet.generation.extraArgs,
        startupTimeoutMs: 120_000,
      },
      client: {
        promptsPerRequest: options.settings.groupsPerBatch * ROLLOUTS_PER_PROBLEM,
        maxConcurrentRequests: 1,
        requestTimeoutMs: 300_000,
      },
    },
    pool: {
      gpus: [0],
      topology: "in-process",
      backend: devnet.backend,
      ...(options.proofThreads ? { threadsPerWorker: options.proofThreads } : {}),
      ...options.pool,
    },
    signer,
    metrics: options.metrics ?? createMetrics({ backend: "null" }),
    logger,
    settings: options.settings,
  });
  return { uid, ...wiring };
}

export interface DevnetValidatorOptions {
  cacheRoot: string;
  /** CPU threads of the validator's engine (leave cores to the miner). */
  threads?: number;
  distribution?: DistributionScope;
  progress?: (message: string) => void;
  /** Interpreter of the validator's code sandbox and MATH judge (the GRAIL_PYTHON setting). */
  python: string;
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
  const environments = new LocalEnvironments(devnet.datasets, { python: options.python });
  const validator = new LocalValidator({
    chain: devnet.chain,
    minerStore: devnet.minerBucketReader(),
    checkpoints: localTrainerCheckpoints(devnet, options.cacheRoot),
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
