#!/usr/bin/env node
import { fileURLToPath } from "node:url";
import { runIpcWorker, WORKER_ENV } from "@grail/proof-worker";
import { runCli } from "./cli.js";

// From a terminal (`pnpm worker --gpu N`) this is the debug CLI; it starts its worker from this
// same file in IPC mode (GRAIL_WORKER_IPC=1, pipes on fds 3/4), so a one-file bundle of the CLI
// carries its worker.
const ipcMode = process.env[WORKER_ENV.ipc] === "1" || process.argv.includes("--ipc");
process.exitCode = ipcMode
  ? await runIpcWorker()
  : await runCli(process.argv.slice(2), { workerMain: fileURLToPath(import.meta.url) });
