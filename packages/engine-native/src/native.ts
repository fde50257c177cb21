import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { NativeConfig } from "./config.js";
import { EngineError } from "./errors.js";
import type { NativeWeights } from "./weights.js";

/** The addon's surface (see native/addon.cpp). */
export interface NativeProveResult {
  sVals: Uint32Array;
  logprobs: Float32Array;
  eosProb: Float64Array;
}

export interface NativeModelHandle {
  load(weights: NativeWeights): Promise<void>;
  prove(
    tokens: Int32Array,
    offsets: Float64Array,
    promptLens: Int32Array,
    rvec: Int32Array,
    profile: boolean,
    sharePrompts: boolean,
  ): Promise<NativeProveResult>;
  lastLogits(tokens: Int32Array, offsets: Float64Array): Promise<Float32Array>;
  hiddenStates(tokens: Int32Array, offsets: Float64Array): Promise<Float32Array>;
  stats(): { weightBytes: number; weightAllocations: number };
  /** JSON of the last prove()'s per-stage profile (CUDA, called with profile on), else null. */
  profile(): string | null;
  close(): void;
}

/** Device memory of a batch on the CUDA backend, from native/common/memory_plan.h (bytes, rows). */
export interface NativeMemoryNeed {
  weightsBytes: number;
  activationBytes: number;
  workspaceBytes: number;
  totalBytes: number;
  rows: number;
  logitRows: number;
}

interface Addon {
  probeCuda(libPath: string): { deviceCount: number; json?: string; error?: string };
  proofMemory(
    config: NativeConfig,
    tiedEmbeddings: boolean,
    tokens: Int32Array,
    offsets: Float64Array,
    promptLens: Int32Array,
    sharePrompts: boolean,
  ): NativeMemoryNeed;
  NativeModel: new (
    config: NativeConfig,
    backend: string,
    device: number,
    threads: number,
    cudaLibPath: string,
  ) => NativeModelHandle;
}

/** What build-native.mjs recorded next to the addon. */
export interface BuildInfo {
  cpu: { built: boolean };
  cuda: { built: boolean; reason?: string; library?: string; archs?: string[] };
}

const releaseDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "build", "Release");
let addon: Addon | undefined;

export function cudaLibraryPath(): string {
  return join(releaseDir, "libgrail_engine_cuda.so");
}

export function loadAddon(): Addon {
  if (addon) return addon;
  const path = join(releaseDir, "grail_engine.node");
  if (!existsSync(path)) {
    throw new EngineError(
      "addon_missing",
      `the native addon ${path} is not built; run "pnpm --filter @grail/engine-native build" (needs cmake and g++)`,
      { path },
    );
  }
  const require = createRequire(import.meta.url);
  addon = require(path) as Addon;
  return addon;
}

export function readBuildInfo(): BuildInfo {
  const path = join(releaseDir, "engine-build.json");
  if (!existsSync(path)) {
    return {
      cpu: { built: false },
      cuda: { built: false, reason: `${path} is missing; the addon is not built` },
    };
  }
  return JSON.parse(readFileSync(path, "utf8")) as BuildInfo;
}
