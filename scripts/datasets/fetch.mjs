#!/usr/bin/env node
// `pnpm datasets:fetch`: one-time download of the task datasets into the verified local cache.
// Needs @grail/config and @grail/environments built (the root script runs turbo first).
import { loadConfig } from "../../packages/config/dist/index.js";
import { runDatasetsFetchCli } from "../../packages/environments/dist/index.js";

// The miner reads the datasets under its cache root: the same GRAIL_CACHE_DIR (.env or environment).
const defaultDataDir = () => loadConfig({ argv: [], registerSecrets: false }).paths.cacheDir;

process.exitCode = await runDatasetsFetchCli(process.argv.slice(2), undefined, { defaultDataDir });
