import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DatasetFetchError, DatasetIntegrityError } from "../errors.js";
import { type ManifestSourceFile, readManifest, writeDatasetCache } from "./cache.js";
import { DATASETS, type DatasetId, type RowTypes, type SourceTable } from "./catalog.js";
import { downloadDir, downloadShard, type ShardDownload, shardOnDisk } from "./download.js";
import { HubClient, type HubOptions } from "./hub.js";
import type { FetchProgress } from "./progress.js";
import { normalizeRow, RowShapeError } from "./rows.js";

export interface FetchDatasetsOptions extends HubOptions {
  /** Cache root: tables go to `<dataDir>/datasets/<dataset>/`, downloads to `<dataDir>/datasets/.downloads/`. */
  readonly dataDir: string;
  readonly datasets?: readonly DatasetId[];
  /** Override a dataset's pinned commit (a branch name is resolved to its commit first). */
  readonly revisions?: Partial<Record<DatasetId, string>>;
  /** Accept row counts that differ from spec §2 (a re-sharded hub repo); off by default. */
  readonly allowRowCountMismatch?: boolean;
  readonly log?: (line: string) => void;
  readonly progress?: FetchProgress;
}

export interface FetchedDataset {
  readonly dataset: DatasetId;
  readonly revision: string;
  readonly tables: readonly { config: string; split: string; rows: number; files: readonly string[] }[];
}

interface TablePlan {
  readonly table: SourceTable;
  readonly shards: readonly ShardDownload[];
}

interface DatasetPlan {
  readonly dataset: DatasetId;
  readonly hub: HubClient;
  readonly revision: string;
  readonly tables: readonly TablePlan[];
}

/**
 * Builds the JSONL cache of the requested datasets at their pinned commits: lists every parquet
 * shard on the hub, downloads what is not already verified on disk (resuming partial files, see
 * downloadShard), converts the shards to JSONL tables and writes the manifest. A dataset is written
 * only once all its shards verified and its row counts match the catalog; nothing of a dataset that
 * fails is written to its cache directory. Errors name the dataset they belong to.
 */
export async function fetchDatasets(opts: FetchDatasetsOptions): Promise<FetchedDataset[]> {
  const log = opts.log ?? (() => {});
  const plans: DatasetPlan[] = [];
  for (const id of opts.datasets ?? (Object.keys(DATASETS) as DatasetId[])) {
    plans.push(await planDataset(opts, id, log));
  }
  const shards = plans.flatMap((p) => p.tables.flatMap((t) => t.shards));
  const onDisk = await Promise.all(shards.map((s) => shardOnDisk(s.path, s.file)));
  const toFetch = shards.filter((_, i) => !onDisk[i]?.complete);
  opts.progress?.start({
    shards: toFetch.length,
    bytes: toFetch.reduce((n, s) => n + s.file.bytes, 0),
    partBytes: onDisk.reduce((n, s) => n + (s.complete ? 0 : s.partBytes), 0),
    kept: shards.length - toFetch.length,
  });

  const out: FetchedDataset[] = [];
  for (const plan of plans) out.push(await buildDataset(opts, plan, log));
  opts.progress?.finish();
  return out;
}

/**
 * The shards of every table of one dataset, from the hub's listing. When the hub cannot be reached,
 * a table can still be rebuilt from shards downloaded before: the manifest names them with the
 * sha256 the hub listed then, and each must still verify on disk.
 */
async function planDataset(
  opts: FetchDatasetsOptions,
  id: DatasetId,
  log: (line: string) => void,
): Promise<DatasetPlan> {
  const hub = new HubClient(opts, id);
  try {
    return await planFromHub(opts, id, hub, log);
  } catch (e) {
    if (!(e instanceof DatasetFetchError)) throw e;
    const kept = await planFromDownloads(opts, id, hub);
    if (!kept) throw e;
    log(
      `${id}: the hub cannot be reached (${e.context.problem}); rebuilding from the shards downloaded before`,
    );
    return kept;
  }
}

async function planFromDownloads(
  opts: FetchDatasetsOptions,
  id: DatasetId,
  hub: HubClient,
): Promise<DatasetPlan | null> {
  const manifest = await readManifest(opts.dataDir, id).catch(() => null);
  const wanted = opts.revisions?.[id];
  if (!manifest || (wanted !== undefined && manifest.revision !== wanted)) return null;
  const area = downloadDir(opts.dataDir, id, manifest.revision);
  const tables: TablePlan[] = [];
  for (const table of DATASETS[id].tables) {
    const entry = manifest.tables.find((t) => t.config === table.config && t.split === table.split);
    const name = shardName(table.config);
    if (!entry?.sources?.length || !entry.sources.every((s) => name.test(s.path))) return null;
    const shards = entry.sources.map((s) => ({
      dataset: id,
      url: hub.fileUrl(DATASETS[id].repo, manifest.revision, s.path),
      file: { path: s.path, bytes: s.bytes, sha256: s.sha256 },
      path: `${area}/${s.path}`,
    }));
    for (const s of shards) if (!(await shardOnDisk(s.path, s.file)).complete) return null;
    tables.push({ table, shards });
  }
  return { dataset: id, hub, revision: manifest.revision, tables };
}

/** Only `<config>/<split>-NNNNN-of-NNNNN.parquet`: such a name cannot leave the download area. */
function shardName(config: string): RegExp {
  return new RegExp(`^${escapeRegex(config)}/[a-z]+-\\d{5}-of-\\d{5}\\.parquet$`);
}

async function planFromHub(
  opts: FetchDatasetsOptions,
  id: DatasetId,
  hub: HubClient,
  log: (line: string) => void,
): Promise<DatasetPlan> {
  const spec = DATASETS[id];
  const wanted = opts.revisions?.[id] ?? spec.revision;
  const revision = await hub.resolveRevision(spec.repo, wanted);
  if (revision !== wanted) log(`${id}: ${wanted} is commit ${revision}`);
  const area = downloadDir(opts.dataDir, id, revision);
  const listings = new Map<string, Awaited<ReturnType<HubClient["listFiles"]>>>();
  const tables: TablePlan[] = [];
  for (const table of spec.tables) {
    let listing = listings.get(table.config);
    if (!listing) {
      listing = await hub.listFiles(spec.repo, revision, table.config, shardName(table.config));
      listings.set(table.config, listing);
    }
    const files = listing.filter((f) => f.path.startsWith(`${table.config}/${table.split}-`));
    if (files.length === 0) {
      throw new DatasetIntegrityError(
        id,
        `${hub.url}/datasets/${spec.repo}/tree/${revision}/${table.config}`,
        `no ${table.split} parquet shard is listed (the hub layout changed; pass another revision)`,
      );
    }
    tables.push({
      table,
      shards: files.map((file) => ({
        dataset: id,
        url: hub.fileUrl(spec.repo, revision, file.path),
        file,
        path: `${area}/${file.path}`,
      })),
    });
  }
  return { dataset: id, hub, revision, tables };
}

async function buildDataset(
  opts: FetchDatasetsOptions,
  plan: DatasetPlan,
  log: (line: string) => void,
): Promise<FetchedDataset> {
  const id = plan.dataset;
  const tables = [];
  for (const { table, shards } of plan.tables) {
    const rows: RowTypes[typeof id][] = [];
    const sources: ManifestSourceFile[] = [];
    for (const shard of shards) {
      const bytes = await downloadShard(plan.hub, shard, (n) => opts.progress?.advance(n));
      opts.progress?.shardDone(shard.file.path);
      const shardRows = await parquetToRows(id, shard.file.path, bytes);
      // push(...rows) overflows the call stack on large shards.
      for (const row of shardRows) rows.push(row);
      sources.push({
        path: shard.file.path,
        sha256: shard.file.sha256,
        bytes: bytes.byteLength,
        rows: shardRows.length,
      });
    }
    if (rows.length !== table.rows && !opts.allowRowCountMismatch) {
      throw new DatasetIntegrityError(
        id,
        `${table.config}/${table.split}`,
        `${rows.length} rows, the reference has ${table.rows}`,
      );
    }
    tables.push({ config: table.config, split: table.split, rows, sources });
  }
  await writeDatasetCache(opts.dataDir, id, { repo: DATASETS[id].repo, revision: plan.revision }, tables);
  log(`${id}: cached ${tables.map((t) => `${t.config}/${t.split}=${t.rows.length}`).join(", ")}`);
  return {
    dataset: id,
    revision: plan.revision,
    tables: tables.map((t) => ({
      config: t.config,
      split: t.split,
      rows: t.rows.length,
      files: t.sources.map((s) => s.path),
    })),
  };
}

/** Decodes one parquet shard into cache rows, in file order. */
export async function parquetToRows<K extends DatasetId>(
  dataset: K,
  file: string,
  bytes: Uint8Array,
): Promise<RowTypes[K][]> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let raw: Record<string, unknown>[];
  try {
    raw = (await parquetReadObjects({ file: buffer, compressors })) as Record<string, unknown>[];
  } catch (e) {
    throw new DatasetIntegrityError(dataset, file, `not a readable parquet file: ${(e as Error).message}`);
  }
  return raw.map((r, i) => {
    try {
      return normalizeRow[dataset](r) as RowTypes[K];
    } catch (e) {
      throw new DatasetIntegrityError(
        dataset,
        file,
        `row ${i}: ${e instanceof RowShapeError ? e.message : String(e)}`,
      );
    }
  });
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
