import { readdir } from "node:fs/promises";
import path from "node:path";
import { readSafetensorsHeader } from "@grail/engine-native";
import { GenerationConfigError } from "./errors.js";
import type { ServerLaunchOptions } from "./launch-options.js";

const GiB = 1024 ** 3;
/** Bytes per weight as the server holds them: it is started with --dtype bfloat16. */
const SERVED_BYTES_PER_WEIGHT = 2;

/**
 * Memory the lowered fraction must leave the server beyond its weights: KV cache for a few
 * full-length sequences, so that a server that starts can also generate.
 */
export const COLOCATION_KV_RESERVE_BYTES = 2 * GiB;

/** What one proof worker holds on its GPU: the model's weights and the peak activations of its largest batch. */
export interface ProofMemoryNeed {
  readonly weightsBytes: number;
  readonly activationBytes: number;
  /** Everything the engine holds when it counts more than the two (a GEMM workspace); at least their sum. */
  readonly totalBytes?: number;
}

/** The proof engine's memory need for a model directory. */
export type ProofMemoryReport = (modelDir: string) => Promise<ProofMemoryNeed>;

/** Proof workers on GPUs of the generation range (GRAIL_PIPELINE_PROOF_COLOCATE=true). */
export interface ProofColocation {
  /** The proof GPUs inside the generation range, relative to CUDA_VISIBLE_DEVICES. */
  readonly gpus: readonly number[];
  readonly proofMemoryNeed: ProofMemoryReport;
  /** A GPU's total memory in bytes, by the same relative index. */
  readonly gpuTotalMemoryBytes: (gpu: number) => Promise<number>;
}

/** The numbers a co-located launch is computed from. */
export interface ColocationFigures {
  readonly gpus: readonly number[];
  /** The configured fraction (GRAIL_PIPELINE_GPU_MEM_UTIL). */
  readonly memFraction: number;
  readonly proofNeed: ProofMemoryNeed;
  /** The smallest total memory among the co-located GPUs. */
  readonly gpuTotalBytes: number;
  /** The generation model's weights on one GPU of a replica (all of them over TP). */
  readonly generationWeightsPerGpuBytes: number;
  readonly kvReserveBytes?: number;
}

/** A co-located layout that cannot fit, or figures that are not byte counts. */
export class ColocationError extends GenerationConfigError {}

const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;
/** Three decimals, rounded down (float noise removed first), so the server never gets more than computed. */
const floorFraction = (x: number) => Math.floor(Math.round(x * 1e6) / 1e3) / 1000;
const isByteCount = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x >= 0;

/**
 * The generation server's memory fraction with proof workers beside it: the configured one less the
 * proof engine's need over the GPU's total. One fraction holds for every GPU of the server, so the
 * smallest co-located GPU decides. Refused (ColocationError naming every number) when the result
 * would not hold the generation model's weights per GPU plus a KV-cache reserve.
 */
export function colocatedMemFraction(f: ColocationFigures): number {
  const where = `GPU${f.gpus.length > 1 ? "s" : ""} ${f.gpus.join(",")}`;
  for (const field of ["weightsBytes", "activationBytes"] as const) {
    const value = f.proofNeed[field];
    if (!isByteCount(value)) {
      throw new ColocationError(
        `the proof engine reported ${field}=${String(value)} for the proof workers beside generation on ${where}; expected a byte count ≥ 0`,
        { field, value },
      );
    }
  }
  if (!isByteCount(f.gpuTotalBytes) || f.gpuTotalBytes === 0) {
    throw new ColocationError(
      `GPU total memory ${String(f.gpuTotalBytes)} of ${where} is not a byte count > 0; check nvidia-smi`,
      { gpus: f.gpus, gpuTotalBytes: f.gpuTotalBytes },
    );
  }
  const parts = f.proofNeed.weightsBytes + f.proofNeed.activationBytes;
  const total = f.proofNeed.totalBytes;
  if (total !== undefined && !(isByteCount(total) && total >= parts)) {
    throw new ColocationError(
      `the proof engine reported totalBytes=${String(total)}, less than its weights and activations (${parts} bytes), for the proof workers beside generation on ${where}`,
      { field: "totalBytes", value: total },
    );
  }
  const need = total ?? parts;
  const more = need > parts ? ` + ${gib(need - parts)} more` : "";
  const reserve = f.kvReserveBytes ?? COLOCATION_KV_RESERVE_BYTES;
  const lowered = floorFraction(f.memFraction - need / f.gpuTotalBytes);
  const required = f.generationWeightsPerGpuBytes + reserve;
  if (lowered > 0 && lowered * f.gpuTotalBytes >= required) return lowered;
  throw new ColocationError(
    `proof workers beside generation on ${where} need ${gib(need)} (weights ${gib(f.proofNeed.weightsBytes)} + activations ${gib(f.proofNeed.activationBytes)}${more}) ` +
      `of ${f.gpus.length > 1 ? "the smallest GPU's" : "the GPU's"} ${gib(f.gpuTotalBytes)}: GRAIL_PIPELINE_GPU_MEM_UTIL=${f.memFraction} would become ${lowered} ` +
      `(${gib(Math.max(0, lowered) * f.gpuTotalBytes)}), less than the generation model's ${gib(f.generationWeightsPerGpuBytes)} of weights per GPU plus a ${gib(reserve)} KV-cache reserve. ` +
      "Move the proof GPUs out of the generation range (GRAIL_PIPELINE_PROOF_GPU_IDS, GRAIL_PIPELINE_PROOF_COLOCATE=false) or raise GRAIL_PIPELINE_VLLM_TP so each GPU holds fewer generation weights",
    {
      gpus: f.gpus,
      memFraction: f.memFraction,
      loweredFraction: lowered,
      proofNeed: f.proofNeed,
      gpuTotalBytes: f.gpuTotalBytes,
      generationWeightsPerGpuBytes: f.generationWeightsPerGpuBytes,
      kvReserveBytes: reserve,
    },
  );
}

/** The generation model's weights as the server loads them (bfloat16), from the checkpoint's safetensors headers. */
export async function generationWeightBytes(modelDir: string): Promise<number> {
  const files = (await readdir(modelDir)).filter((name) => name.endsWith(".safetensors")).sort();
  if (files.length === 0) {
    throw new ColocationError(`${modelDir} holds no .safetensors file to size the generation weights from`, {
      modelDir,
    });
  }
  let elements = 0;
  for (const file of files) {
    for (const entry of readSafetensorsHeader(path.join(modelDir, file))) {
      if (!entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw new ColocationError(
          `${entry.path}: tensor ${entry.name} has shape [${entry.shape.join(",")}], not a list of sizes ≥ 0`,
          { path: entry.path, tensor: entry.name },
        );
      }
      elements += entry.shape.reduce((a, b) => a * b, 1);
    }
  }
  return elements * SERVED_BYTES_PER_WEIGHT;
}

/**
 * The launch of a generation server that shares GPUs with proof workers: the proof engine's need
 * for `modelDir` and the GPUs' totals lower the memory fraction (colocatedMemFraction).
 */
export async function colocatedLaunchOptions(
  launch: ServerLaunchOptions,
  modelDir: string,
  colocation: ProofColocation,
): Promise<{ launch: ServerLaunchOptions; figures: ColocationFigures }> {
  const totals = await Promise.all(
    colocation.gpus.map((gpu) =>
      colocation.gpuTotalMemoryBytes(gpu).catch((err: unknown) => {
        throw new ColocationError(
          `could not read the total memory of GPU ${gpu} for the proof workers beside generation: ${(err as Error).message}`,
          { gpu },
          { cause: err },
        );
      }),
    ),
  );
  const figures: ColocationFigures = {
    gpus: [...colocation.gpus],
    memFraction: launch.memFraction,
    proofNeed: await colocation.proofMemoryNeed(modelDir),
    gpuTotalBytes: Math.min(...totals),
    generationWeightsPerGpuBytes: Math.ceil((await generationWeightBytes(modelDir)) / launch.tp),
  };
  return { launch: { ...launch, memFraction: colocatedMemFraction(figures) }, figures };
}
