import { parseArgs } from "node:util";
import { EnvironmentError } from "../errors.js";
import { DATASET_IDS, DATASETS, type DatasetId } from "./catalog.js";
import { DEFAULT_HUB_URL } from "./hub.js";
import { fetchProgress } from "./progress.js";
import { provisionDatasets } from "./provision.js";

const USAGE = `Usage: datasets:fetch [options]

Fetches the MBPP, HumanEval, GSM8K and MATH parquet files at pinned hub commits and writes the
verified JSONL cache the miner reads (<GRAIL_CACHE_DIR>/datasets, default ~/.cache/grail/datasets).
Datasets already cached and verified are left alone; partial downloads continue where they stopped.
The miner does the same at start; this command does it ahead of time (e.g. before going offline).

Options:
  --data-dir DIR            cache root (default: the miner's GRAIL_CACHE_DIR from .env or the environment)
  --only LIST               comma-separated subset of: ${DATASET_IDS.join(", ")}
  --revision ID=REV         fetch another commit or branch of one dataset (repeatable)
  --hub URL                 hub base URL (default: HF_ENDPOINT, else ${DEFAULT_HUB_URL}); HF_TOKEN is sent
  --allow-row-count-mismatch  keep tables whose row counts differ from the reference
  -h, --help                this text`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Where a progress bar is drawn (a terminal); without one, progress is printed as lines. */
  readonly tty?: (NodeJS.WritableStream & { columns?: number }) | null;
}

/** Hub settings from the miner's configuration (HF_ENDPOINT, HF_TOKEN), read by the caller. */
export interface HubSettings {
  readonly hubUrl?: string;
  readonly token?: string | null;
}

export interface DatasetsFetchDefaults {
  /** The cache root when --data-dir is not given (the miner's configured cache dir); may throw. */
  readonly defaultDataDir?: () => string;
}

/** `pnpm datasets:fetch`; returns the process exit code. */
export async function runDatasetsFetchCli(
  argv: readonly string[],
  io: CliIo = {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
    tty: process.stderr.isTTY ? process.stderr : null,
  },
  settings: HubSettings & DatasetsFetchDefaults = {},
): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const only = values.only ? values.only.split(",").map((s) => s.trim()) : [...DATASET_IDS];
  const unknown = only.filter((d) => !(DATASET_IDS as readonly string[]).includes(d));
  if (unknown.length > 0) {
    io.err(`unknown dataset(s) ${unknown.join(", ")}; choose from ${DATASET_IDS.join(", ")}`);
    return 2;
  }
  const revisions: Partial<Record<DatasetId, string>> = {};
  for (const r of values.revision ?? []) {
    const [id, rev] = r.split("=", 2);
    if (!id || !rev || !(id in DATASETS)) {
      io.err(`--revision wants ID=REV with ID in ${DATASET_IDS.join(", ")}, got "${r}"`);
      return 2;
    }
    revisions[id as DatasetId] = rev;
  }
  let dataDir = values["data-dir"];
  if (dataDir === undefined) {
    try {
      dataDir = settings.defaultDataDir?.();
    } catch (e) {
      io.err(`${(e as Error).message}\n\nfix the configuration or pass --data-dir DIR`);
      return 2;
    }
  }
  if (dataDir === undefined) {
    io.err(`no cache root: pass --data-dir DIR\n\n${USAGE}`);
    return 2;
  }
  try {
    const done = await provisionDatasets({
      dataDir,
      datasets: only as DatasetId[],
      revisions,
      hubUrl: values.hub ?? settings.hubUrl ?? DEFAULT_HUB_URL,
      token: settings.token ?? null,
      allowRowCountMismatch: values["allow-row-count-mismatch"] ?? false,
      log: io.out,
      progress: fetchProgress({ tty: io.tty ?? null, line: (l) => io.out(l) }),
    });
    for (const d of done) {
      if (!d.fetched)
        io.out(`${d.dataset}: already cached and verified (revision ${d.revision.slice(0, 10)})`);
    }
    io.out(
      `cached ${done.map((d) => `${d.dataset}@${d.revision.slice(0, 10)}`).join(", ")} under ${dataDir}`,
    );
    return 0;
  } catch (e) {
    io.err(e instanceof EnvironmentError ? e.message : String((e as Error).stack ?? e));
    return 1;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      "data-dir": { type: "string" },
      only: { type: "string" },
      revision: { type: "string", multiple: true },
      hub: { type: "string" },
      "allow-row-count-mismatch": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
}
