/**
 * Consumer side of the trainer's checkpoints (spec/miner-pipeline.md §6): discovery
 * through READY markers, metadata, FULL downloads verified against the manifest, DELTA
 * chains reconstructed and checked against the weights hash, and a local cache that is
 * only ever populated by atomic renames of fully verified directories.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { CHECKPOINT_PREFIX } from "@grail/protocol";
import PQueue from "p-queue";
import { cleanupCheckpointCache, verifyManifest } from "./checkpoint-cache.js";
import { type DeltaChainHost, reconstructDelta } from "./checkpoint-delta.js";
import {
  type CheckpointMetadata,
  type CheckpointType,
  checkpointDirKey,
  checkpointMetadataKey,
  checkpointSubPrefix,
  chooseCheckpoint,
  DEFAULT_RETENTION,
  missingMetadataFields,
  parseCheckpointMetadata,
  parseReadyMarker,
  type ReadyMarker,
  type RetentionPolicy,
} from "./checkpoint-layout.js";
import { containedPath, containedPathNoLinks } from "./contained-path.js";
import {
  CheckpointIntegrityError,
  CheckpointNotFoundError,
  ObjectNotFoundError,
  StorageError,
} from "./errors.js";
import { sha256File } from "./file-hash.js";
import type { ObjectStoreClient } from "./object-store.js";

export { verifyManifest } from "./checkpoint-cache.js";

export interface CheckpointStoreOptions {
  /** Read client for the trainer's bucket (the trainer's committed read keys). */
  reader: ObjectStoreClient;
  /** `<GRAIL_CACHE_DIR>/checkpoints`. */
  cacheRoot: string;
  retention?: Partial<RetentionPolicy>;
  /** Files downloaded at once for one checkpoint (reference: 8). */
  fileConcurrency?: number;
  /** Orphaned `.partial` dirs without a parsable PID are removed after this age. */
  stalePartialMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export class CheckpointStore {
  readonly cacheRoot: string;
  private readonly reader: ObjectStoreClient;
  private readonly retention: RetentionPolicy;
  private readonly fileConcurrency: number;
  private readonly stalePartialMs: number;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;
  private readonly metadataCache = new Map<string, CheckpointMetadata>();
  private readonly locks = new Map<number, Promise<unknown>>();
  private readonly deltaHost: DeltaChainHost;

  constructor(opts: CheckpointStoreOptions) {
    if (opts.reader.role !== "read") {
      throw new StorageError(
        "the checkpoint store reads with the read client; it was given the write client",
        {
          role: opts.reader.role,
        },
      );
    }
    this.reader = opts.reader;
    this.cacheRoot = opts.cacheRoot;
    this.retention = { ...DEFAULT_RETENTION, ...opts.retention };
    this.fileConcurrency = opts.fileConcurrency ?? 8;
    this.stalePartialMs = opts.stalePartialMs ?? 3_600_000;
    this.log = opts.log ?? (() => undefined);
    this.deltaHost = {
      retention: this.retention,
      localDir: (window) => this.localDir(window),
      isCachedAndVerified: (window) => this.isCachedAndVerified(window),
      fetchMetadata: (window, type) => this.fetchMetadata(window, type),
      getMetadata: (window) => this.getMetadata(window),
      getCheckpoint: (window) => this.getCheckpoint(window),
      partialDir: (stem) => this.partialDir(stem),
      downloadManifestFiles: (meta, type, dir) => this.downloadManifestFiles(meta, type, dir),
    };
  }

  // -------------------------------------------------------------- discovery

  /** Every READY marker under `grail/checkpoints/` (paginated listing). */
  async listReady(): Promise<ReadyMarker[]> {
    const objects = await this.reader.list(CHECKPOINT_PREFIX);
    return objects.map((o) => parseReadyMarker(o.key)).filter((m): m is ReadyMarker => m !== null);
  }

  /** The checkpoint window valid for `window` (§5.7), or null when none is ready. */
  async latestReadyCheckpoint(window: number): Promise<number | null> {
    return chooseCheckpoint(await this.listReady(), window);
  }

  /** Metadata for a window, DELTA first then FULL (§5.7); null when neither exists. */
  async getMetadata(window: number): Promise<CheckpointMetadata | null> {
    return (await this.fetchMetadata(window, "DELTA")) ?? (await this.fetchMetadata(window, "FULL"));
  }

  /** Only metadata that passes validation is cached, so a corrected re-publish is seen. */
  async fetchMetadata(window: number, type: CheckpointType): Promise<CheckpointMetadata | null> {
    const cacheKey = `${window}/${type}`;
    const cached = this.metadataCache.get(cacheKey);
    if (cached) return cached;
    let bytes: Buffer;
    try {
      bytes = (await this.reader.download(checkpointMetadataKey(window, type))).bytes;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new CheckpointIntegrityError(
        `${checkpointMetadataKey(window, type)} is not valid JSON; the trainer's publish is broken`,
        { window, type },
        { cause: err },
      );
    }
    const meta = parseCheckpointMetadata(payload, window, type);
    if (missingMetadataFields(meta).length === 0) this.metadataCache.set(cacheKey, meta);
    return meta;
  }

  async readyWindowOf(window: number): Promise<number | null> {
    const objects = await this.reader.list(`${checkpointDirKey(window)}/`);
    for (const o of objects) {
      const m = parseReadyMarker(o.key);
      if (m && m.checkpointWindow === window) return m.readyWindow;
    }
    return null;
  }

  // ------------------------------------------------------------ local cache

  localDir(window: number): string {
    return join(this.cacheRoot, `checkpoint-${window}`);
  }

  /** A cached checkpoint counts only when its local manifest is non-empty and every file matches. */
  async isCachedAndVerified(window: number): Promise<boolean> {
    const dir = this.localDir(window);
    try {
      const local = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8")) as {
        file_manifest?: unknown;
      };
      const manifest = local.file_manifest as Record<string, string> | undefined;
      if (!manifest || typeof manifest !== "object" || Object.keys(manifest).length === 0) return false;
      return (await verifyManifest(dir, manifest)) === null;
    } catch {
      return false;
    }
  }

  private partialDir(stem: string): string {
    return join(this.cacheRoot, `${stem}.${process.pid}.${randomBytes(4).toString("hex")}.partial`);
  }

  /**
   * Makes checkpoint `window` available locally and returns its directory: the verified
   * cache entry, a FULL download, or a DELTA reconstruction. Throws a typed error
   * (not ready, missing link, integrity, hash mismatch); nothing unverified is installed.
   */
  async getCheckpoint(window: number): Promise<string> {
    const previous = this.locks.get(window) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.materialize(window));
    this.locks.set(window, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(window) === run) this.locks.delete(window);
    }
  }

  private async materialize(window: number): Promise<string> {
    const started = Date.now();
    const local = this.localDir(window);
    if (await this.isCachedAndVerified(window)) return local;
    await rm(local, { recursive: true, force: true });

    // Slow path prefers FULL: anchors are the most reliable recovery points.
    const metadata =
      (await this.fetchMetadata(window, "FULL")) ?? (await this.fetchMetadata(window, "DELTA"));
    const ready = await this.readyWindowOf(window);
    if (ready === null) {
      throw new CheckpointNotFoundError(
        `checkpoint-${window} has no READY marker yet (upload in progress or never published); retry later`,
        { window },
      );
    }
    const tmp = this.partialDir(`checkpoint-${window}`);
    await mkdir(tmp, { recursive: true });
    try {
      let method: string;
      if (metadata?.checkpoint_type === "DELTA") {
        await reconstructDelta(this.deltaHost, metadata, tmp);
        method = "delta";
      } else if (metadata && Object.keys(metadata.file_manifest).length > 0) {
        await this.downloadFull(metadata, tmp);
        method = "full";
      } else {
        await this.mirrorFullPrefix(window, tmp);
        method = "mirror";
      }
      await rm(local, { recursive: true, force: true });
      await rename(tmp, local);
      this.log("checkpoint_ready", { window, method, seconds: (Date.now() - started) / 1000 });
      return local;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // The manifests we hold may describe a publish the trainer has since corrected.
      this.metadataCache.clear();
      throw err;
    }
  }

  /**
   * Downloads the manifest's files into `dir` and verifies each sha256. Downloads are
   * staged under `.downloads/` keyed by the object, so a restarted process resumes a
   * partially downloaded multi-GB file instead of starting over.
   */
  private async downloadManifestFiles(
    meta: CheckpointMetadata,
    type: CheckpointType,
    dir: string,
  ): Promise<void> {
    const prefix = checkpointSubPrefix(meta.window, type);
    const queue = new PQueue({ concurrency: this.fileConcurrency });
    const staging = join(this.cacheRoot, ".downloads", `checkpoint-${meta.window}`, type);
    let failure: { error: unknown } | null = null;
    // A cleared task's promise never settles: completion is the queue going idle, not these.
    for (const [name, expected] of Object.entries(meta.file_manifest)) {
      void queue
        .add(async () => {
          const key = `${prefix}/${name}`;
          const what = `checkpoint-${meta.window} ${type} manifest entry`;
          // Staging outlives the process (resumable downloads): a link planted there must not be written through.
          const stagePath = await containedPathNoLinks(
            this.cacheRoot,
            relative(this.cacheRoot, containedPath(staging, name, what)),
            what,
            [".part", ".part.json", ".gunzip"],
          );
          try {
            await this.reader.downloadToFile(key, stagePath);
          } catch (err) {
            if (err instanceof ObjectNotFoundError) {
              throw new CheckpointNotFoundError(
                `checkpoint-${meta.window} ${type} lists ${name} in its manifest but s3://${this.reader.bucket}/${key} is missing`,
                { window: meta.window, key },
                { cause: err },
              );
            }
            throw err;
          }
          const actual = await sha256File(stagePath);
          if (actual !== expected) {
            await rm(stagePath, { force: true });
            throw new CheckpointIntegrityError(
              `checkpoint-${meta.window} ${type}/${name} failed verification: sha256 ${actual} != manifest ${expected} ` +
                `(s3://${this.reader.bucket}/${key}); the corrupt file was discarded, nothing was loaded`,
              { window: meta.window, key, expected, actual },
            );
          }
          const target = await containedPathNoLinks(dir, name, what);
          await mkdir(dirname(target), { recursive: true });
          await rename(stagePath, target);
        })
        .catch((error: unknown) => {
          // The first failure decides: nothing queued behind it starts, and the caller gets the
          // error only once the downloads in flight are over, so none writes into `dir` (or into a
          // staged file a retry resumes) after the caller has cleaned up.
          failure ??= { error };
          queue.clear();
        });
    }
    await queue.onIdle();
    if (failure) throw (failure as { error: unknown }).error;
    await rm(staging, { recursive: true, force: true });
  }

  private async downloadFull(meta: CheckpointMetadata, dir: string): Promise<void> {
    await this.downloadManifestFiles(meta, "FULL", dir);
    await writeFile(
      join(dir, "metadata.json"),
      JSON.stringify(
        {
          window: meta.window,
          file_manifest: meta.file_manifest,
          training_config: meta.training_config,
          git_commit: meta.git_commit,
          created_at: meta.created_at,
          model_name: meta.model_name,
        },
        null,
        2,
      ),
    );
  }

  /** No usable metadata: mirror everything under FULL/ (stripping `.gz`), unverified, as the reference. */
  private async mirrorFullPrefix(window: number, dir: string): Promise<void> {
    const prefix = `${checkpointSubPrefix(window, "FULL")}/`;
    const objects = await this.reader.list(prefix);
    if (objects.length === 0) {
      throw new CheckpointNotFoundError(`checkpoint-${window} has no metadata and no files under ${prefix}`, {
        window,
      });
    }
    const queue = new PQueue({ concurrency: this.fileConcurrency });
    await Promise.all(
      objects
        .filter((o) => !o.key.endsWith("/"))
        .map((o) =>
          queue.add(async () => {
            let rel = o.key.slice(prefix.length);
            if (rel.endsWith(".gz")) rel = rel.slice(0, -3);
            const target = await containedPathNoLinks(
              dir,
              rel,
              `checkpoint-${window} object ${o.key} as local file`,
            );
            await mkdir(dirname(target), { recursive: true });
            await writeFile(target, (await this.reader.download(`${prefix}${rel}`)).bytes);
          }),
        ),
    );
  }

  // ---------------------------------------------------------------- retention

  /** §6.8 cleanup of the local cache for `currentWindow` (see cleanupCheckpointCache). */
  cleanupLocal(currentWindow: number): Promise<{ removed: string[] }> {
    return cleanupCheckpointCache(this.cacheRoot, this.retention, this.stalePartialMs, currentWindow);
  }
}
