#!/usr/bin/env node
import { fileURLToPath } from "node:url";
import { runCli } from "./cli.js";
import { runIpcWorker, WORKER_ENV } from "./ipc-main.js";

// Started by the proof pool (GRAIL_WORKER_IPC=1, pipes on fds 3/4) it is a worker; from a terminal
// (`pnpm worker --gpu N`) it is the debug CLI that starts such a worker and checks it.
const ipcMode = process.env[WORKER_ENV.ipc] === "1" || process.argv.includes("--ipc");
process.exitCode = ipcMode
  ? await runIpcWorker()
  : await runCli(process.argv.slice(2), { workerMain: fileURLToPath(import.meta.url) });
