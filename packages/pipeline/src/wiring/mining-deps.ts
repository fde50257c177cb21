import { mkdir } from "node:fs/promises";
import type { DatasetStore } from "@grail/environments";
import {
  ChatTokenizer,
  colocatedLaunchOptions,
  GenerationServer,
  type GenerationServerOptions,
  type ProofColocation,
} from "@grail/generation";
import type { Logger } from "@grail/log";
import type { MinerMetrics } from "@grail/metrics";
import {
  assertWorkerBuilt,
  type WorkerEntryPoints,
  workerEntryPoints,
} from "@grail/proof-worker/entry-points";
import { type WindowStoreWriter, WindowUploader } from "@grail/storage";
import type { EngineSettings, MiningEngineDeps } from "../mining/engine.js";
import { MiningEnvironments } from "../mining/environments.js";
import { monitorBackends } from "../mining/monitor.js";
import type {
  Backends,
  CheckpointSource,
  GenerationPort,
  MiningChain,
  RandomnessSource,
  StartBackends,
} from "../mining/ports.js";
import { SpoolingWindowSink } from "../mining/window-sink.js";
import { WindowFileWriter } from "../mining/window-writer.js";
import { ProofPool, type ProofPoolOptions } from "../pool/pool.js";
import type { HotkeySigner } from "../pool/types.js";
import { startBackendPair } from "./backends-start.js";

/**
 * What differs between the networks a miner mines on: where heads, randomness and checkpoints come
 * from, the bucket it uploads to, and how its generation server and proof workers are launched.
 */
export interface MiningWiringOptions {
  chain: MiningChain;
  randomness: RandomnessSource;
  checkpoints: CheckpointSource;
  /** Problem sets behind the environments (create_env). */
  datasets: DatasetStore;
  /** Interpreter of the code sandbox and the sympy judge (the miner's GRAIL_PYTHON setting). */
  python: string;
  /** The miner's bucket: sealed window files are spooled under `spoolDir`, then uploaded. */
  upload: {
    writer: WindowStoreWriter;
    spoolDir: string;
    /** Where files are encoded: a worker thread (default) or this thread. */
    fileWriter?: "thread" | "inline";
  };
  /** The generation server, started on the first checkpoint. */
  generation: Omit<GenerationServerOptions, "logger">;
  /**
   * Proof GPUs that are generation GPUs too (GRAIL_PIPELINE_PROOF_COLOCATE=true): the server's memory
   * fraction is lowered by the proof engine's need for the first checkpoint, and it starts before
   * the proof workers. Absent when no proof GPU is a generation GPU.
   */
  colocation?: ProofColocation;
  /** The proof workers, started on the first checkpoint; entry points default to the built worker. */
  pool: Omit<ProofPoolOptions, "model" | "signer" | "entryPoints"> & { entryPoints?: WorkerEntryPoints };
  /** Wraps the generation server as the engine calls it (the miner counts calls for /healthz). */
  trackGeneration?: (port: GenerationPort) => GenerationPort;
  signer: HotkeySigner;
  metrics: MinerMetrics;
  logger: Logger;
  settings: EngineSettings;
}

export interface MiningWiring {
  /** Everything the MiningEngine takes. */
  deps: MiningEngineDeps;
  sink: SpoolingWindowSink;
  /** The generation server and the proof pool once started (null before the first checkpoint). */
  backends(): { generation: GenerationServer; pool: ProofPool } | null;
  /** Stops the backends, then finishes uploads and closes the file writer; failures are logged. */
  close(): Promise<void>;
}

/**
 * Builds the mining engine's dependencies from the network-specific parts, once for every network:
 * the spooling uploader, the environments, the tokenizer loader, and the generation server and
 * proof pool that start together on the first checkpoint (with their metrics).
 */
export async function wireMining(options: MiningWiringOptions): Promise<MiningWiring> {
  const { logger, metrics, signer } = options;
  const entryPoints = options.pool.entryPoints ?? workerEntryPoints();
  assertWorkerBuilt(entryPoints);

  await mkdir(options.upload.spoolDir, { recursive: true });
  const fileWriter = WindowFileWriter.create(options.upload.fileWriter ?? "thread");
  const sink = new SpoolingWindowSink({
    writer: fileWriter,
    uploader: new WindowUploader({ writer: options.upload.writer, spoolDir: options.upload.spoolDir }),
    logger: logger.child({ component: "upload" }),
  });
  const environments = new MiningEnvironments(options.datasets, { python: options.python });

  let generation: GenerationServer | null = null;
  let pool: ProofPool | null = null;
  let stopMonitor: (() => void) | null = null;
  const startGeneration = async (dir: string): Promise<GenerationServer> => {
    const genLogger = logger.child({ component: "generation" });
    let launch = options.generation.launch;
    if (options.colocation && options.colocation.gpus.length > 0) {
      const colocated = await colocatedLaunchOptions(launch, dir, options.colocation);
      launch = colocated.launch;
      genLogger.notice("memory fraction lowered for the proof workers beside generation", {
        gpus: colocated.figures.gpus.join(","),
        configured: colocated.figures.memFraction,
        lowered: launch.memFraction,
        proofWeightsBytes: colocated.figures.proofNeed.weightsBytes,
        proofActivationBytes: colocated.figures.proofNeed.activationBytes,
        gpuTotalBytes: colocated.figures.gpuTotalBytes,
      });
    }
    return GenerationServer.start(dir, { ...options.generation, launch, logger: genLogger });
  };
  const startBackends: StartBackends = async ({ dir, window }): Promise<Backends> => {
    const started = await startBackendPair(
      {
        generation: () => startGeneration(dir),
        proofs: () =>
          ProofPool.start({
            model: { modelDir: dir, checkpointWindow: window },
            signer,
            logger,
            ...options.pool,
            entryPoints,
          }),
        stopGeneration: (server) => server.stop(),
        stopProofs: (proofs) => proofs.shutdown(),
      },
      options.colocation && options.colocation.gpus.length > 0 ? "generation-first" : "together",
    );
    generation = started.generation;
    pool = started.proofs;
    stopMonitor = monitorBackends(metrics, pool, generation.process);
    return {
      generation: options.trackGeneration ? options.trackGeneration(generation) : generation,
      proofs: pool,
    };
  };

  const step = async (what: () => Promise<unknown>) => {
    await what().catch((e: unknown) => logger.warn("shutdown step failed", { error: String(e) }));
  };
  return {
    deps: {
      chain: options.chain,
      randomness: options.randomness,
      checkpoints: options.checkpoints,
      startBackends,
      loadTokenizer: (dir) => ChatTokenizer.fromDir(dir),
      environments: environments.factory,
      sink,
      signer,
      metrics,
      logger,
      settings: options.settings,
    },
    sink,
    backends: () => (generation && pool ? { generation, pool } : null),
    async close() {
      stopMonitor?.();
      await Promise.allSettled([pool?.shutdown(), generation?.stop()]);
      await step(() => environments.close());
      await step(() => sink.close());
      await step(() => fileWriter.close());
    },
  };
}
