import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DatasetFetchError, DatasetIntegrityError } from "../errors.js";
import { type ManifestSourceFile, sha256Hex, writeDatasetCache } from "./cache.js";
import { DATASETS, type DatasetId, type RowTypes } from "./catalog.js";
import { normalizeRow, RowShapeError } from "./rows.js";

export const DEFAULT_HUB_URL = "https://huggingface.co";

export interface FetchDatasetsOptions {
  readonly dataDir: string;
  readonly datasets?: readonly DatasetId[];
  /** Override a dataset's pinned commit (a branch name is resolved to its commit first). */
  readonly revisions?: Partial<Record<DatasetId, string>>;
  readonly hubUrl?: string;
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof globalThis.fetch;
  /** Accept row counts that differ from spec §2 (a re-sharded hub repo); off by default. */
  readonly allowRowCountMismatch?: boolean;
  readonly log?: (line: string) => void;
  /** Per request; default 120 s. */
  readonly timeoutMs?: number;
}

export interface FetchedDataset {
  readonly dataset: DatasetId;
  readonly revision: string;
  readonly tables: readonly { config: string; split: string; rows: number; files: readonly string[] }[];
}

interface TreeEntry {
  readonly type: string;
  readonly path: string;
  readonly size?: number;
  readonly lfs?: { readonly oid?: string; readonly sha256?: string };
}

const COMMIT = /^[0-9a-f]{40}$/;

/**
 * Downloads the parquet shards of the requested datasets at pinned commits, converts them to the
 * JSONL cache with a manifest, and returns what was written. Runs once while online
 * (`pnpm datasets:fetch`); mining itself only ever reads the cache.
 */
export async function fetchDatasets(opts: FetchDatasetsOptions): Promise<FetchedDataset[]> {
  const hub = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, "");
  const http = opts.fetch ?? globalThis.fetch;
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const get = async (url: string): Promise<Response> => {
    let res: Response;
    try {
      res = await http(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
    } catch (e) {
      throw new DatasetFetchError(url, (e as Error).message);
    }
    if (!res.ok) throw new DatasetFetchError(url, `HTTP ${res.status} ${res.statusText}`);
    return res;
  };

  const out: FetchedDataset[] = [];
  for (const id of opts.datasets ?? (Object.keys(DATASETS) as DatasetId[])) {
    const spec = DATASETS[id];
    let revision = opts.revisions?.[id] ?? spec.revision;
    if (!COMMIT.test(revision)) {
      const info = (await (
        await get(`${hub}/api/datasets/${spec.repo}/revision/${encodeURIComponent(revision)}`)
      ).json()) as {
        sha?: string;
      };
      if (!info.sha || !COMMIT.test(info.sha)) {
        throw new DatasetFetchError(
          `${hub}/api/datasets/${spec.repo}`,
          `revision "${revision}" did not resolve to a commit`,
        );
      }
      log(`${id}: ${revision} is commit ${info.sha}`);
      revision = info.sha;
    }
    const listings = new Map<string, TreeEntry[]>();
    const tables = [];
    for (const table of spec.tables) {
      let listing = listings.get(table.config);
      if (!listing) {
        const url = `${hub}/api/datasets/${spec.repo}/tree/${revision}/${table.config}`;
        listing = (await (await get(url)).json()) as TreeEntry[];
        listings.set(table.config, listing);
      }
      const shardName = new RegExp(
        `^${escapeRegex(table.config)}/${escapeRegex(table.split)}-\\d{5}-of-\\d{5}\\.parquet$`,
      );
      const shards = listing
        .filter((e) => e.type === "file" && shardName.test(e.path))
        .sort((a, b) => (a.path < b.path ? -1 : 1));
      if (shards.length === 0) {
        throw new DatasetFetchError(
          `${hub}/datasets/${spec.repo}/tree/${revision}/${table.config}`,
          `no ${table.split} parquet shard found (the hub layout changed; pass another revision)`,
        );
      }
      const rows: RowTypes[typeof id][] = [];
      const sources: ManifestSourceFile[] = [];
      for (const shard of shards) {
        const url = `${hub}/datasets/${spec.repo}/resolve/${revision}/${shard.path}`;
        log(`${id}: downloading ${shard.path}`);
        const bytes = new Uint8Array(await (await get(url)).arrayBuffer());
        const digest = sha256Hex(bytes);
        const lfsDigest = shard.lfs?.oid ?? shard.lfs?.sha256;
        if (lfsDigest && lfsDigest !== digest) {
          throw new DatasetIntegrityError(
            id,
            shard.path,
            `downloaded sha256 ${digest}, the hub lists ${lfsDigest}`,
          );
        }
        const shardRows = await parquetToRows(id, shard.path, bytes);
        rows.push(...shardRows);
        sources.push({ path: shard.path, sha256: digest, bytes: bytes.byteLength, rows: shardRows.length });
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
    await writeDatasetCache(opts.dataDir, id, { repo: spec.repo, revision }, tables);
    log(`${id}: cached ${tables.map((t) => `${t.config}/${t.split}=${t.rows.length}`).join(", ")}`);
    out.push({
      dataset: id,
      revision,
      tables: tables.map((t) => ({
        config: t.config,
        split: t.split,
        rows: t.rows.length,
        files: t.sources.map((s) => s.path),
      })),
    });
  }
  return out;
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
