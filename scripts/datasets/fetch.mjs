#!/usr/bin/env node
// `pnpm datasets:fetch`: one-time download of the task datasets into the verified local cache.
// Needs @grail/environments built (the root script runs turbo first).
import { runDatasetsFetchCli } from "../../packages/environments/dist/index.js";

process.exitCode = await runDatasetsFetchCli(process.argv.slice(2));
