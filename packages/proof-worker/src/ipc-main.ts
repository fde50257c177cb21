import { Socket } from "node:net";
import { REPLY_FD, REQUEST_FD } from "@grail/ipc";
import { createLogger, type Verbosity } from "@grail/log";
import { WorkerCore } from "./core.js";
import { serveIpc } from "./ipc-worker.js";

/** Environment the pool sets on a worker child (besides CUDA_VISIBLE_DEVICES). */
export const WORKER_ENV = {
  /** "1": serve the IPC protocol on fds 3/4 instead of running the debug CLI. */
  ipc: "GRAIL_WORKER_IPC",
  /** 0, 1 or 2, as the coordinator's -v count. */
  verbosity: "GRAIL_WORKER_VERBOSITY",
  /** The GPU this worker is pinned to, for log lines. */
  gpu: "GRAIL_WORKER_GPU",
  /** Upper bound on one request frame. */
  maxFrameBytes: "GRAIL_WORKER_MAX_FRAME_BYTES",
} as const;

function verbosityFromEnv(): Verbosity {
  const v = Number(process.env[WORKER_ENV.verbosity] ?? "0");
  return v >= 2 ? 2 : v >= 1 ? 1 : 0;
}

/** Entry of a worker started by the pool: serve requests until shutdown or until the parent is gone. */
export async function runIpcWorker(): Promise<number> {
  const gpu = process.env[WORKER_ENV.gpu];
  const logger = createLogger({
    json: true,
    verbosity: verbosityFromEnv(),
    fields: { component: "proof-worker", ...(gpu === undefined ? {} : { gpu }) },
  });
  // Ctrl-C in a terminal signals the whole process group; the coordinator decides when its
  // workers stop (shutdown request, or closing the pipe), so an interactive stop drains cleanly.
  process.on("SIGINT", () => logger.debug("SIGINT ignored: the coordinator stops this worker"));
  let input: Socket;
  let output: Socket;
  try {
    input = new Socket({ fd: REQUEST_FD, readable: true, writable: false });
    output = new Socket({ fd: REPLY_FD, readable: false, writable: true });
  } catch (err) {
    logger.error(
      `file descriptors ${REQUEST_FD}/${REPLY_FD} are not open: the IPC mode is for workers started by the proof pool; for the debug CLI run \`pnpm worker --gpu N\` (without ${WORKER_ENV.ipc})`,
      { error: (err as Error).message },
    );
    await logger.close();
    return 2;
  }
  const maxFrameBytes = Number(process.env[WORKER_ENV.maxFrameBytes] ?? "") || undefined;
  const core = new WorkerCore({ logger });
  const why = await serveIpc({ input, output, core, logger, maxFrameBytes });
  logger.info("proof worker stopping", { reason: why });
  await logger.close();
  // Exit without waiting for a running proof: the parent no longer wants it, and process exit
  // releases the model's memory (and the GPU) at once.
  process.exit(0);
}
