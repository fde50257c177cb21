import type { WorkerReply, WorkerRequest } from "@grail/ipc";
import { createLogger, type Verbosity } from "@grail/log";
import Piscina from "piscina";
import { WorkerCore } from "./core.js";

/** What the pool passes to each in-process worker thread. */
export interface ThreadWorkerData {
  gpu: number;
  verbosity: Verbosity;
}

const data = (Piscina.workerData ?? {}) as Partial<ThreadWorkerData>;
const logger = createLogger({
  json: true,
  verbosity: data.verbosity ?? 0,
  fields: { component: "proof-worker", topology: "in-process", gpu: data.gpu },
});
const core = new WorkerCore({ logger });

/** A hello request exists only on this transport: a child process sends hello unprompted. */
export type ThreadTask = WorkerRequest | { type: "hello" };

/**
 * Piscina task handler of the in-process topology: the same WorkerCore as a worker process,
 * driven with message objects instead of frames (typed arrays cross the thread boundary by copy).
 */
export default function handle(task: ThreadTask): WorkerReply | Promise<WorkerReply> {
  if (task.type === "hello") return core.hello();
  return core.handle(task);
}
