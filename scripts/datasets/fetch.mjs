#!/usr/bin/env node
// `pnpm datasets:fetch`: download and verify the task datasets into the local cache ahead of time
// (the miner does the same at start). The cache root (GRAIL_CACHE_DIR), HF_ENDPOINT and HF_TOKEN come
// from the miner's configuration (.env and the environment). Needs @grail/environments and
// @grail/config built (the root script runs turbo first).
import { ConfigError, loadConfig } from "../../packages/config/dist/index.js";
import { runDatasetsFetchCli } from "../../packages/environments/dist/index.js";

let cfg;
try {
  cfg = loadConfig({ argv: [] });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
}
process.exitCode = await runDatasetsFetchCli(process.argv.slice(2), undefined, {
  hubUrl: cfg.datasets.hubUrl,
  token: cfg.datasets.hubToken,
  defaultDataDir: () => cfg.paths.cacheDir,
});
