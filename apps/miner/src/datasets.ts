import path from "node:path";
import type { MinerConfig } from "@grail/config";
import {
  CacheDirectorySource,
  DatasetStore,
  type FetchDatasetsOptions,
  fetchProgress,
  inspectDatasets,
  provisionDatasets,
} from "@grail/environments";
import type { Logger } from "@grail/log";

/**
 * How the miner provisions the datasets into `dataDir`: from HF_ENDPOINT with HF_TOKEN, a progress
 * bar on `tty` (a terminal), log lines otherwise.
 */
export function provisionOptions(
  cfg: MinerConfig,
  dataDir: string,
  log: Logger,
  tty: NodeJS.WritableStream | null,
): FetchDatasetsOptions {
  const lines = log.child({ component: "datasets" });
  return {
    dataDir,
    hubUrl: cfg.datasets.hubUrl,
    token: cfg.datasets.hubToken,
    log: (line) => lines.info(line),
    progress: fetchProgress({
      tty,
      line: (line, fields) => lines.notice("datasets download", { progress: line, ...fields }),
    }),
  };
}

/**
 * The datasets every environment a checkpoint may name needs, verified, fetched first when missing
 * or corrupt. Throws DatasetProvisionError (dataset, what failed, the fix) when they cannot be.
 */
export async function provisionMiningDatasets(
  cfg: MinerConfig,
  dataDir: string,
  log: Logger,
  tty: NodeJS.WritableStream | null,
): Promise<DatasetStore> {
  const done = await provisionDatasets(provisionOptions(cfg, dataDir, log, tty));
  log.notice("datasets ready", {
    dataDir,
    fetched: done.filter((d) => d.fetched).map((d) => d.dataset),
  });
  return new DatasetStore(new CacheDirectorySource(dataDir));
}

/** `--check`: each dataset as present, missing or corrupt, and the command that fixes it. Never downloads. */
export async function datasetLines(cfg: MinerConfig, dataDir: string): Promise<string[]> {
  const states = await inspectDatasets(dataDir);
  const width = Math.max(...states.map((s) => s.dataset.length));
  const lines = [`Datasets (${path.join(path.resolve(dataDir), "datasets")}):`];
  for (const s of states) {
    const name = s.dataset.padEnd(width);
    if (s.state === "present") {
      lines.push(`  ${name}  present (revision ${s.revision.slice(0, 10)}, ${s.rows} rows)`);
    } else {
      lines.push(`  ${name}  ${s.state === "missing" ? "missing" : `corrupt: ${s.detail}`}`);
    }
  }
  if (states.some((s) => s.state !== "present")) {
    lines.push(
      `Missing or corrupt datasets are fetched at start from ${cfg.datasets.hubUrl} (HF_ENDPOINT); to fetch them now: pnpm datasets:fetch`,
    );
  }
  if (cfg.chain.embeddedDevnet && cfg.chain.devnetDatasets === "bundled") {
    lines.push("The local network mines the bundled problem sets; GRAIL_DEVNET_DATASETS=real uses these.");
  }
  return lines;
}
