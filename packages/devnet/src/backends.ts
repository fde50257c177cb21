import { GenerationServer } from "@grail/generation";
import type { Logger } from "@grail/log";
import {
  type Backends,
  type HotkeySigner,
  ProofPool,
  type ProofPoolOptions,
  type StartBackends,
  type WorkerEntryPointPaths,
} from "@grail/pipeline";
import { ROLLOUTS_PER_PROBLEM } from "@grail/protocol";

export interface LocalBackendsOptions {
  /** The devnet's launch command of the native generation server. */
  generation: { command: readonly string[]; extraArgs: readonly string[] };
  backend: "cpu" | "cuda";
  signer: HotkeySigner;
  /** The proof worker's entry points (apps/worker). */
  entryPoints: WorkerEntryPointPaths;
  logger: Logger;
  groupsPerBatch: number;
  /** CPU threads of the proof worker; default all cores. */
  proofThreads?: number;
  /** Context length of the generation server. */
  contextLength?: number;
  pool?: Partial<ProofPoolOptions>;
}

export interface LocalBackends {
  start: StartBackends;
  /** The parts once started (null before the first checkpoint). */
  started(): { generation: GenerationServer; pool: ProofPool } | null;
  stop(): Promise<void>;
}

/**
 * The local network's generation server and proof worker: the native generation server (the same
 * SGLang-compatible HTTP API, started by the same supervisor) and one in-process proof worker, on
 * the CUDA backend when a GPU is present and the CPU backend otherwise.
 */
export function localBackends(options: LocalBackendsOptions): LocalBackends {
  let generation: GenerationServer | null = null;
  let pool: ProofPool | null = null;
  const start: StartBackends = async ({ dir, window }): Promise<Backends> => {
    const [gen, proofs] = await Promise.allSettled([
      GenerationServer.start(dir, {
        backend: "sglang",
        launch: {
          gpuStart: 0,
          tp: 1,
          memFraction: 0.5,
          contextLength: options.contextLength ?? 4096,
          disableCudaGraph: true,
          command: options.generation.command,
          extraArgs: options.generation.extraArgs,
          startupTimeoutMs: 120_000,
        },
        client: {
          promptsPerRequest: options.groupsPerBatch * ROLLOUTS_PER_PROBLEM,
          maxConcurrentRequests: 1,
          requestTimeoutMs: 300_000,
        },
        logger: options.logger.child({ component: "generation" }),
      }),
      ProofPool.start({
        gpus: [0],
        topology: "in-process",
        model: { modelDir: dir, checkpointWindow: window },
        signer: options.signer,
        entryPoints: options.entryPoints,
        backend: options.backend,
        ...(options.proofThreads ? { threadsPerWorker: options.proofThreads } : {}),
        logger: options.logger.child({ component: "proofs" }),
        ...options.pool,
      }),
    ]);
    if (gen.status === "rejected" || proofs.status === "rejected") {
      if (gen.status === "fulfilled") await gen.value.stop();
      if (proofs.status === "fulfilled") await proofs.value.shutdown();
      const reasons = [gen, proofs]
        .filter((r): r is PromiseRejectedResult => r.status === "rejected")
        .map((r) => (r.reason as Error).message);
      throw new Error(`local backends failed to start: ${reasons.join("; ")}`);
    }
    generation = gen.value;
    pool = proofs.value;
    return { generation, proofs: pool };
  };
  return {
    start,
    started: () => (generation && pool ? { generation, pool } : null),
    async stop() {
      await Promise.allSettled([pool?.shutdown(), generation?.stop()]);
    },
  };
}
