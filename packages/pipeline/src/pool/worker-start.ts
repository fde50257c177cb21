import type { EngineKind } from "@grail/ipc";
import type { Logger } from "@grail/log";
import { physicalGpuId } from "./gpus.js";
import { DEFAULTS, type ProofPoolOptions } from "./options.js";
import type { WorkerSlot } from "./slot.js";
import { type SubprocessSpec, SubprocessWorker } from "./subprocess.js";
import { ThreadWorker } from "./threads.js";
import type { WorkerTransport } from "./transport.js";
import type { Topology } from "./types.js";

/** The engine a GPU's worker runs under a topology (torch exists only as a worker process). */
export function engineFor(
  options: ProofPoolOptions,
  gpu: number,
  topology: Topology,
  logger: Logger,
): EngineKind {
  const engine = options.engineByGpu?.[gpu] ?? options.engine ?? "native";
  if (engine === "torch" && topology === "in-process") {
    logger.warn("the torch engine runs only as a worker process; using the native engine in-process", {
      gpu,
    });
    return "native";
  }
  return engine;
}

/** Starts the worker of a slot: a thread in this process, or a child process pinned to its GPU. */
export function startTransport(
  options: ProofPoolOptions,
  topology: Topology,
  slot: WorkerSlot,
  poolLogger: Logger,
): Promise<WorkerTransport> {
  const logger = poolLogger.child({ gpu: slot.gpu });
  if (topology === "in-process") {
    return ThreadWorker.start({
      filename: options.entryPoints.thread,
      gpu: slot.gpu,
      verbosity: options.verbosity ?? 0,
      logger,
    });
  }
  return SubprocessWorker.start({
    spec: spawnSpec(options, slot),
    logger,
    helloTimeoutMs: options.helloTimeoutMs ?? DEFAULTS.helloTimeoutMs,
    maxFrameBytes: options.maxFrameBytes,
  });
}

/** The command, arguments and environment of a worker child for a slot. */
export function spawnSpec(
  options: ProofPoolOptions,
  slot: { gpu: number; engine: EngineKind },
): SubprocessSpec {
  // Children inherit the coordinator's environment; GPU indices count within its CUDA_VISIBLE_DEVICES.
  const base = options.env ?? process.env;
  const visible =
    options.cudaVisibleDevices === undefined ? base.CUDA_VISIBLE_DEVICES : options.cudaVisibleDevices;
  const env: NodeJS.ProcessEnv = {
    ...base,
    CUDA_VISIBLE_DEVICES: physicalGpuId(slot.gpu, visible),
    GRAIL_WORKER_IPC: "1",
    GRAIL_WORKER_GPU: String(slot.gpu),
    GRAIL_WORKER_VERBOSITY: String(options.verbosity ?? 0),
    PYTHONUNBUFFERED: "1",
  };
  if (options.maxFrameBytes) env.GRAIL_WORKER_MAX_FRAME_BYTES = String(options.maxFrameBytes);
  const entry = options.entryPoints;
  return slot.engine === "torch"
    ? { command: options.pythonPath ?? "python3", args: [entry.torch], env }
    : { command: options.nodePath ?? process.execPath, args: [entry.main], env };
}
