import { join, resolve } from "node:path";
import {
  DatasetIntegrityError,
  DatasetMissingError,
  DatasetProvisionError,
  EnvironmentError,
} from "../errors.js";
import { CacheDirectorySource } from "./cache.js";
import { DATASET_IDS, DATASETS, type DatasetId } from "./catalog.js";
import { type FetchDatasetsOptions, fetchDatasets } from "./fetch.js";
import { DEFAULT_HUB_URL } from "./hub.js";

/** What the cache holds of one dataset. */
export type DatasetState =
  | {
      readonly dataset: DatasetId;
      readonly state: "present";
      readonly revision: string;
      readonly rows: number;
    }
  | { readonly dataset: DatasetId; readonly state: "missing" | "corrupt"; readonly detail: string };

/**
 * Checks one dataset's cache as mining reads it, without the network: the manifest, then every table
 * of the catalog against its sha256 and row count and the catalog's row count (unless
 * `requireCatalogCounts` is false, for tables fetched with `--allow-row-count-mismatch`).
 */
export async function inspectDataset(
  dataDir: string,
  dataset: DatasetId,
  opts: { requireCatalogCounts?: boolean } = {},
): Promise<DatasetState> {
  const source = new CacheDirectorySource(dataDir, opts);
  let revision: string;
  try {
    revision = (await source.manifest(dataset)).revision;
  } catch (e) {
    if (e instanceof DatasetMissingError) {
      return {
        dataset,
        state: "missing",
        detail: `no ${join(resolve(dataDir), "datasets", dataset, "manifest.json")}`,
      };
    }
    return { dataset, state: "corrupt", detail: problemOf(e) };
  }
  let rows = 0;
  for (const t of DATASETS[dataset].tables) {
    try {
      rows += (await source.table(dataset, t.config, t.split)).length;
    } catch (e) {
      return { dataset, state: "corrupt", detail: problemOf(e) };
    }
  }
  return { dataset, state: "present", revision, rows };
}

export function inspectDatasets(
  dataDir: string,
  datasets: readonly DatasetId[] = DATASET_IDS,
  opts: { requireCatalogCounts?: boolean } = {},
): Promise<DatasetState[]> {
  return Promise.all(datasets.map((d) => inspectDataset(dataDir, d, opts)));
}

function problemOf(e: unknown): string {
  if (e instanceof DatasetIntegrityError) return `${e.context.file}: ${e.context.problem}`;
  if (e instanceof DatasetMissingError) return `${e.context.path} is missing`;
  throw e;
}

export interface ProvisionedDataset {
  readonly dataset: DatasetId;
  /** The cache before this call. */
  readonly before: DatasetState;
  /** Whether it was (re)built from the hub. */
  readonly fetched: boolean;
  readonly revision: string;
}

/**
 * Makes the cache hold every requested dataset (default: all four), verified: a dataset that is
 * present is left alone; one that is missing or corrupt is fetched (resuming partial downloads,
 * reusing verified shards) and verified again. A dataset with an explicit `revisions` entry is
 * always fetched at that revision. Fails with DatasetProvisionError naming the dataset, what failed
 * and how to fix it; datasets provisioned before the failure stay.
 */
export async function provisionDatasets(opts: FetchDatasetsOptions): Promise<ProvisionedDataset[]> {
  const ids = opts.datasets ?? DATASET_IDS;
  const counts = { requireCatalogCounts: !opts.allowRowCountMismatch };
  const before = await inspectDatasets(opts.dataDir, ids, counts);
  const needed = before.filter((s) => s.state !== "present" || opts.revisions?.[s.dataset] !== undefined);
  const hubUrl = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, "");
  const fail = (dataset: DatasetId, cause: EnvironmentError): never => {
    const state = before.find((s) => s.dataset === dataset)?.state ?? "missing";
    throw new DatasetProvisionError(dataset, state, resolve(opts.dataDir), hubUrl, cause);
  };
  if (needed.length > 0) {
    try {
      await fetchDatasets({ ...opts, datasets: needed.map((s) => s.dataset) });
    } catch (e) {
      const dataset = (e as EnvironmentError).context?.envId;
      if (e instanceof EnvironmentError && typeof dataset === "string") fail(dataset as DatasetId, e);
      throw e;
    }
  }
  const after = await inspectDatasets(
    opts.dataDir,
    needed.map((s) => s.dataset),
    counts,
  );
  for (const s of after) {
    if (s.state !== "present") {
      fail(
        s.dataset,
        new DatasetIntegrityError(s.dataset, "after fetching", `still ${s.state}: ${s.detail}`),
      );
    }
  }
  return before.map((b) => {
    const now = after.find((a) => a.dataset === b.dataset) ?? b;
    return {
      dataset: b.dataset,
      before: b,
      fetched: now !== b,
      revision: now.state === "present" ? now.revision : "",
    };
  });
}
