/**
 * The W&B run, in a worker thread of its own: @wandb/sdk installs SIGINT (exiting the process),
 * SIGTERM and beforeExit handlers, throws from a message listener when the server refuses the run,
 * retries for many minutes and prints to the console. In a thread none of that reaches the miner:
 * signals are not delivered to threads, a throw ends only the thread, and the exporter that owns
 * the thread reads its output and can end it.
 */
import { parentPort, workerData } from "node:worker_threads";
import wandb from "@wandb/sdk";
import type { ThreadData, ThreadReply, ThreadRequest } from "./protocol.js";

const data = workerData as ThreadData;
const port = parentPort!;
const reply = (message: ThreadReply) => port.postMessage(message);

const run = wandb.init({
  project: data.project,
  entity: data.entity ?? "",
  name: data.name,
  config: data.config,
  settings: { apiKey: data.apiKey, baseUrl: data.baseUrl, offline: false, silent: true },
});
run.then(
  (r) => reply({ type: "started", id: r.id, url: r.url() }),
  (err: unknown) => reply({ type: "failed", error: err instanceof Error ? err.message : String(err) }),
);

port.on("message", (request: ThreadRequest) => {
  if (request.type === "log") {
    run.then(
      () => wandb.log(request.row),
      () => {},
    );
  } else {
    const finished = () => reply({ type: "finished" });
    run.then(() => wandb.finish(0).then(finished, finished), finished);
  }
});
