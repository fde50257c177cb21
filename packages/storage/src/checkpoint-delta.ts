/**
 * DELTA checkpoints (spec/miner-pipeline.md §6): the chain walked back to a verified base, each
 * sparse delta applied in order, the result checked against the weights hash and written as a
 * FULL checkpoint directory with its own manifest.
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import {
  type CheckpointMetadata,
  type CheckpointType,
  isAnchorWindow,
  type RetentionPolicy,
} from "./checkpoint-layout.js";
import {
  CheckpointIntegrityError,
  CheckpointNotFoundError,
  DeltaFormatError,
  StorageError,
  WeightsHashMismatchError,
} from "./errors.js";
import { sha256File } from "./file-hash.js";
import { loadStateDict, type StateDict, writeSafetensors } from "./safetensors.js";
import { decodeSparseDelta } from "./sparse-codec.js";
import { applySparseDelta, weightsHash } from "./weights.js";

/** What delta reconstruction uses of its checkpoint store. */
export interface DeltaChainHost {
  readonly retention: RetentionPolicy;
  localDir(window: number): string;
  isCachedAndVerified(window: number): Promise<boolean>;
  fetchMetadata(window: number, type: CheckpointType): Promise<CheckpointMetadata | null>;
  getMetadata(window: number): Promise<CheckpointMetadata | null>;
  getCheckpoint(window: number): Promise<string>;
  /** A fresh `.partial` directory path under the cache root. */
  partialDir(stem: string): string;
  downloadManifestFiles(meta: CheckpointMetadata, type: CheckpointType, dir: string): Promise<void>;
}

const NON_WEIGHT_SKIP = new Set([
  "model.safetensors",
  "model.safetensors.index.json",
  "model.safetensors.index.json.gz",
  "metadata.json",
  "FULL",
  "DELTA",
  "manifest.sig",
]);

async function listFilesRecursive(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFilesRecursive(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

async function loadDelta(host: DeltaChainHost, meta: CheckpointMetadata) {
  const tmp = host.partialDir(`delta-${meta.window}`);
  await mkdir(tmp, { recursive: true });
  try {
    await host.downloadManifestFiles(meta, "DELTA", tmp);
    let info: { format?: unknown };
    try {
      info = JSON.parse(await readFile(join(tmp, "delta_metadata.json"), "utf8"));
    } catch (err) {
      throw new CheckpointIntegrityError(
        `checkpoint-${meta.window} DELTA has no readable delta_metadata.json`,
        { window: meta.window },
        { cause: err },
      );
    }
    const payloadPath = join(tmp, "delta_sparse.bin.zst");
    const compressed = await readFile(payloadPath).catch(() => {
      throw new CheckpointIntegrityError(`checkpoint-${meta.window} DELTA has no delta_sparse.bin.zst`, {
        window: meta.window,
      });
    });
    try {
      return await decodeSparseDelta(compressed, String(info.format));
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      const Err = err instanceof DeltaFormatError ? DeltaFormatError : CheckpointIntegrityError;
      throw new Err(
        `checkpoint-${meta.window} DELTA is unusable: ${err.message}; nothing was loaded`,
        { ...err.context, window: meta.window },
        { cause: err },
      );
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Walks back via prev_window to a verified cached checkpoint or a FULL, oldest delta first. */
async function buildChain(
  host: DeltaChainHost,
  target: CheckpointMetadata,
): Promise<{ baseDir: string; chain: CheckpointMetadata[] }> {
  const chain: CheckpointMetadata[] = [];
  let current = target;
  const seen = new Set<number>();
  while (current.checkpoint_type === "DELTA") {
    chain.push(current);
    seen.add(current.window);
    const prev = current.prev_window;
    if (prev === null) {
      throw new CheckpointIntegrityError(`DELTA checkpoint-${current.window} has no prev_window`, {
        window: current.window,
      });
    }
    if (seen.has(prev)) {
      throw new CheckpointIntegrityError(`delta chain loops at checkpoint-${prev}`, { window: prev });
    }
    if (await host.isCachedAndVerified(prev)) return { baseDir: host.localDir(prev), chain: chain.reverse() };
    let prevMeta: CheckpointMetadata | null = null;
    if (isAnchorWindow(prev, host.retention)) prevMeta = await host.fetchMetadata(prev, "FULL");
    prevMeta ??= await host.getMetadata(prev);
    if (!prevMeta) {
      throw new CheckpointNotFoundError(
        `delta chain for checkpoint-${target.window} is broken: no metadata for link checkpoint-${prev}`,
        { window: target.window, missing: prev },
      );
    }
    current = prevMeta;
  }
  const baseDir = await host.getCheckpoint(current.window);
  return { baseDir, chain: chain.reverse() };
}

export async function reconstructDelta(
  host: DeltaChainHost,
  target: CheckpointMetadata,
  outDir: string,
): Promise<void> {
  const { baseDir, chain } = await buildChain(host, target);
  let state: StateDict = await loadStateDict(baseDir);
  for (const link of chain) {
    const updates = await loadDelta(host, link);
    state = applySparseDelta(state, updates, { inPlace: true });
  }
  const final = chain[chain.length - 1] ?? target;
  if (final.weights_hash) {
    const actual = await weightsHash(state);
    if (actual !== final.weights_hash) {
      throw new WeightsHashMismatchError(
        `reconstructed checkpoint-${final.window} (base ${baseDir}, ${chain.length} delta(s)) hashes to ${actual}, ` +
          `metadata weights_hash is ${final.weights_hash}; the result was discarded`,
        { window: final.window, expected: final.weights_hash, actual },
      );
    }
  }
  await writeSafetensors(join(outDir, "model.safetensors"), state, { format: "pt" });
  for (const entry of await readdir(baseDir, { withFileTypes: true })) {
    const name = entry.name;
    if (!entry.isFile() || NON_WEIGHT_SKIP.has(name) || name.startsWith("READY")) continue;
    if (name.startsWith("model-") && name.endsWith(".safetensors")) continue;
    await copyFile(join(baseDir, name), join(outDir, name));
  }
  const manifest: Record<string, string> = {};
  for (const file of await listFilesRecursive(outDir))
    manifest[relative(outDir, file)] = await sha256File(file);
  await writeFile(
    join(outDir, "metadata.json"),
    JSON.stringify(
      {
        window: final.window,
        file_manifest: manifest,
        training_config: final.training_config,
        git_commit: final.git_commit,
        created_at: final.created_at,
        model_name: final.model_name,
        checkpoint_type: "FULL",
        reconstructed_from_delta: true,
        original_anchor_window: final.anchor_window,
        weights_hash: final.weights_hash,
      },
      null,
      2,
    ),
  );
}
