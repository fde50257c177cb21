import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { DatasetIntegrityError, DatasetMissingError } from "../errors.js";
import { DATASETS, type DatasetId, type RowTypes } from "./catalog.js";
import { normalizeRow, RowShapeError } from "./rows.js";

/**
 * Cache layout (spec §9.2), under the miner's cache root (GRAIL_CACHE_DIR, passed in as dataDir):
 *   <dataDir>/datasets/<dataset>/manifest.json
 *   <dataDir>/datasets/<dataset>/<config>/<split>.jsonl   one row per line, hub file order
 */
export const MANIFEST_FORMAT = 1;

export interface ManifestSourceFile {
  /** Path inside the hub repository. */
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly rows: number;
}

export interface ManifestTable {
  readonly config: string;
  readonly split: string;
  /** Relative to the dataset directory. */
  readonly jsonl: string;
  readonly sha256: string;
  readonly rows: number;
  readonly sources: readonly ManifestSourceFile[];
}

export interface DatasetManifest {
  readonly format: number;
  readonly dataset: DatasetId;
  readonly repo: string;
  /** Hub commit the files were fetched at ("fixture"/"bundled" for files written by us). */
  readonly revision: string;
  readonly fetchedAt: string;
  readonly tables: readonly ManifestTable[];
}

export function datasetDir(dataDir: string, dataset: DatasetId): string {
  return join(resolve(dataDir), "datasets", dataset);
}

export function tablePath(config: string, split: string): string {
  return `${config}/${split}.jsonl`;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export function toJsonl(rows: readonly unknown[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
}

/** Writes through a temporary file and a rename, so readers never see half a file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Writes a dataset's tables and its manifest; `sources` describe the hub files they came from. */
export async function writeDatasetCache<K extends DatasetId>(
  dataDir: string,
  dataset: K,
  meta: { repo: string; revision: string; fetchedAt?: string },
  tables: readonly {
    config: string;
    split: string;
    rows: readonly RowTypes[K][];
    sources: readonly ManifestSourceFile[];
  }[],
): Promise<DatasetManifest> {
  const dir = datasetDir(dataDir, dataset);
  const entries: ManifestTable[] = [];
  for (const t of tables) {
    const text = toJsonl(t.rows);
    const rel = tablePath(t.config, t.split);
    await writeFileAtomic(join(dir, rel), text);
    entries.push({
      config: t.config,
      split: t.split,
      jsonl: rel,
      sha256: sha256Hex(text),
      rows: t.rows.length,
      sources: t.sources,
    });
  }
  const manifest: DatasetManifest = {
    format: MANIFEST_FORMAT,
    dataset,
    repo: meta.repo,
    revision: meta.revision,
    fetchedAt: meta.fetchedAt ?? new Date().toISOString(),
    tables: entries,
  };
  // The manifest goes last: its presence means every table it names is complete.
  await writeFileAtomic(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export async function readManifest(dataDir: string, dataset: DatasetId): Promise<DatasetManifest> {
  const path = join(datasetDir(dataDir, dataset), "manifest.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new DatasetMissingError(dataset, path);
  }
  let m: DatasetManifest;
  try {
    m = JSON.parse(text) as DatasetManifest;
  } catch (e) {
    throw new DatasetIntegrityError(dataset, path, `not JSON: ${(e as Error).message}`);
  }
  if (m.format !== MANIFEST_FORMAT || m.dataset !== dataset || !Array.isArray(m.tables)) {
    throw new DatasetIntegrityError(
      dataset,
      path,
      `unexpected manifest (format ${m.format}, dataset ${m.dataset})`,
    );
  }
  return m;
}

export function parseJsonl<K extends DatasetId>(dataset: K, file: string, text: string): RowTypes[K][] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((line, i) => {
    try {
      return normalizeRow[dataset](JSON.parse(line) as Record<string, unknown>) as RowTypes[K];
    } catch (e) {
      const why = e instanceof RowShapeError || e instanceof SyntaxError ? e.message : String(e);
      throw new DatasetIntegrityError(dataset, file, `line ${i + 1}: ${why}`);
    }
  });
}

/** Where tables come from: a verified cache directory, or rows held in memory. */
export interface TableSource {
  table<K extends DatasetId>(dataset: K, config: string, split: string): Promise<readonly RowTypes[K][]>;
  /** For messages: where the rows came from. */
  readonly description: string;
}

export interface CacheDirectoryOptions {
  /**
   * Also require the production row counts of spec §2 (default true). Fixture directories turn
   * this off; their manifests still pin counts and hashes.
   */
  readonly requireCatalogCounts?: boolean;
}

/**
 * Reads only the JSONL cache, never the network. Every table is checked against the manifest
 * (sha256 and row count) and, for real data, against the counts in the catalog.
 */
export class CacheDirectorySource implements TableSource {
  readonly description: string;
  private readonly manifests = new Map<DatasetId, Promise<DatasetManifest>>();
  private readonly requireCatalogCounts: boolean;

  /** `dataDir`: the cache root whose `datasets/` holds the tables (the miner's GRAIL_CACHE_DIR). */
  constructor(
    readonly dataDir: string,
    opts: CacheDirectoryOptions = {},
  ) {
    this.description = `dataset cache ${resolve(dataDir)}`;
    this.requireCatalogCounts = opts.requireCatalogCounts ?? true;
  }

  manifest(dataset: DatasetId): Promise<DatasetManifest> {
    let m = this.manifests.get(dataset);
    if (!m) {
      m = readManifest(this.dataDir, dataset);
      this.manifests.set(dataset, m);
      m.catch(() => this.manifests.delete(dataset));
    }
    return m;
  }

  async table<K extends DatasetId>(
    dataset: K,
    config: string,
    split: string,
  ): Promise<readonly RowTypes[K][]> {
    const manifest = await this.manifest(dataset);
    const entry = manifest.tables.find((t) => t.config === config && t.split === split);
    const dir = datasetDir(this.dataDir, dataset);
    const path = join(dir, tablePath(config, split));
    if (!entry) throw new DatasetMissingError(dataset, path);
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, entry.jsonl));
    } catch {
      throw new DatasetMissingError(dataset, path);
    }
    const digest = sha256Hex(bytes);
    if (digest !== entry.sha256) {
      throw new DatasetIntegrityError(
        dataset,
        entry.jsonl,
        `sha256 ${digest} differs from the manifest's ${entry.sha256}`,
      );
    }
    const rows = parseJsonl(dataset, entry.jsonl, bytes.toString("utf8"));
    if (rows.length !== entry.rows) {
      throw new DatasetIntegrityError(
        dataset,
        entry.jsonl,
        `${rows.length} rows, manifest says ${entry.rows}`,
      );
    }
    if (this.requireCatalogCounts) {
      const expected = DATASETS[dataset].tables.find((t) => t.config === config && t.split === split)?.rows;
      if (expected !== undefined && rows.length !== expected) {
        throw new DatasetIntegrityError(
          dataset,
          entry.jsonl,
          `${rows.length} rows, the reference has ${expected}`,
        );
      }
    }
    return rows;
  }
}

/** Tables held in memory (the bundled problem sets, or tests). */
export class InMemorySource implements TableSource {
  constructor(
    private readonly tables: Partial<{ [K in DatasetId]: Record<string, readonly RowTypes[K][]> }>,
    readonly description = "in-memory tables",
  ) {}

  async table<K extends DatasetId>(
    dataset: K,
    config: string,
    split: string,
  ): Promise<readonly RowTypes[K][]> {
    const rows = this.tables[dataset]?.[`${config}/${split}`] as readonly RowTypes[K][] | undefined;
    if (!rows) throw new DatasetMissingError(dataset, `${this.description}: ${config}/${split}`);
    return rows;
  }
}
