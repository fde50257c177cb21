#!/usr/bin/env node
import { runIpcWorker } from "./ipc-main.js";

// The process the proof pool starts (pipes on fds 3/4). The debug CLI is `pnpm worker --gpu N`.
process.exitCode = await runIpcWorker();
