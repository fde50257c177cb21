import { ProtocolViolationError } from "@grail/protocol";
import { type ProofEngineChoice, type ProofEngineKind, parseDeviceList, ValueProblem } from "./parse.js";
import type { PipelineConfig } from "./types.js";

/** The settings the GPU layout check reads; DP defaults to 1 and co-location to off. */
export type GpuLayoutSettings = Pick<
  PipelineConfig,
  "generationGpu" | "tensorParallel" | "proofGpu" | "proofGpuIds" | "proofFlashAttn"
> &
  Partial<Pick<PipelineConfig, "dataParallel" | "proofColocate">> & {
    readonly proofEngine?: ProofEngineChoice;
  };

/** A layout that passed checkGpuLayout; indices are relative to CUDA_VISIBLE_DEVICES. */
export interface GpuLayout {
  /** null when the count is unknown (no CUDA_VISIBLE_DEVICES, no driver): ranges were not checked. */
  readonly visibleDeviceCount: number | null;
  /** [generationGpu, generationGpu + tensorParallel · dataParallel). */
  readonly generationGpus: readonly number[];
  /** One proof worker per entry. */
  readonly proofGpus: readonly number[];
  /** Proof GPUs that are generation GPUs too (GRAIL_PIPELINE_PROOF_COLOCATE=true). */
  readonly colocatedGpus: readonly number[];
  /** e.g. "visible GPUs 0..7; generation TP=4 on [0,1,2,3]; proof [4,5,6,7]". */
  readonly summary: string;
}

/** The generation server's GPUs: [generationGpu, generationGpu + TP·DP); empty when TP or DP is no count. */
export function generationGpuRange(
  pipeline: Pick<GpuLayoutSettings, "generationGpu" | "tensorParallel" | "dataParallel">,
): number[] {
  const { tensorParallel: tp, dataParallel: dp = 1 } = pipeline;
  const count = tp * dp;
  return isCount(tp) && isCount(dp) ? range(pipeline.generationGpu, count) : [];
}

/** "TP=2 × DP=2", or "TP=2" with one replica. */
export function parallelism(pipeline: Pick<GpuLayoutSettings, "tensorParallel" | "dataParallel">): string {
  const dp = pipeline.dataParallel ?? 1;
  return dp === 1 ? `TP=${pipeline.tensorParallel}` : `TP=${pipeline.tensorParallel} × DP=${dp}`;
}

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 1;

/**
 * Why GRAIL_PIPELINE_PROOF_FLASH_ATTN=true is refused: the flag chose FlashAttention-2 for the
 * reference's HF proof model. Our proof engine has one attention implementation that follows the
 * reference forward's numerics (spec protocol.md §10 item 1, miner-pipeline.md §11 item 6), so the
 * flag would select nothing; accepting it would suggest a switch that does not exist.
 */
export const FLASH_ATTN_REFUSAL =
  "GRAIL_PIPELINE_PROOF_FLASH_ATTN=true is refused: the proof engine has a single attention path that follows the reference forward's numerics (validators recompute with it), so the flag selects nothing; leave it false";

/**
 * Checks the pipeline's GPU layout against the number of visible devices: the generation range
 * [VLLM_GPU, VLLM_GPU+TP·DP) and every proof GPU (PROOF_GPU_IDS, or PROOF_GPU when empty) must be
 * visible and ≥ 0, proof GPUs must not repeat nor overlap generation unless PROOF_COLOCATE allows
 * it, per-GPU proof-engine entries must name proof GPUs, and PROOF_FLASH_ATTN must be false. With
 * the count unknown (null) every check but visibility still runs. Throws ProtocolViolationError
 * whose message shows the whole layout and every problem.
 */
export function checkGpuLayout(pipeline: GpuLayoutSettings, visibleDeviceCount: number | null): GpuLayout {
  if (visibleDeviceCount !== null && (!Number.isSafeInteger(visibleDeviceCount) || visibleDeviceCount < 0)) {
    throw new RangeError(`visibleDeviceCount must be a whole number ≥ 0, got ${visibleDeviceCount}`);
  }
  const problems: string[] = [];
  const { tensorParallel: tp, dataParallel: dp = 1 } = pipeline;
  if (!isCount(tp)) problems.push(`tensor parallelism ${tp} is not a whole number ≥ 1`);
  if (!isCount(dp)) problems.push(`data parallelism ${dp} is not a whole number ≥ 1`);
  const generationGpus = generationGpuRange(pipeline);
  const colocatedGpus: number[] = [];
  const proofGpus = pipeline.proofGpuIds.length > 0 ? [...pipeline.proofGpuIds] : [pipeline.proofGpu];

  const visible = (g: number) =>
    Number.isSafeInteger(g) && g >= 0 && (visibleDeviceCount === null || g < visibleDeviceCount);
  const badGeneration = generationGpus.filter((g) => !visible(g));
  if (badGeneration.length > 0) {
    problems.push(
      `generation GPU${badGeneration.length > 1 ? "s" : ""} ${badGeneration.join(",")} ${badGeneration.length > 1 ? "are" : "is"} ${rangeReason(badGeneration, visibleDeviceCount)}`,
    );
  }
  const seen = new Set<number>();
  for (const g of proofGpus) {
    if (seen.has(g)) {
      problems.push(`proof GPU ${g} is listed twice`);
      continue;
    }
    seen.add(g);
    if (!visible(g)) problems.push(`proof GPU ${g} is ${rangeReason([g], visibleDeviceCount)}`);
    else if (generationGpus.includes(g)) {
      if (pipeline.proofColocate) colocatedGpus.push(g);
      else problems.push(`proof GPU ${g} overlaps generation`);
    }
  }
  for (const gpu of Object.keys(pipeline.proofEngine?.perGpu ?? {}).map(Number)) {
    if (!proofGpus.includes(gpu))
      problems.push(`GRAIL_PIPELINE_PROOF_ENGINE names GPU ${gpu}, which is not a proof GPU`);
  }
  if (pipeline.proofFlashAttn) problems.push(FLASH_ATTN_REFUSAL);

  const summary = [
    visibleDeviceCount === null
      ? "visible GPUs unknown"
      : visibleDeviceCount === 0
        ? "visible GPUs none"
        : `visible GPUs 0..${visibleDeviceCount - 1}`,
    `generation ${parallelism(pipeline)} on [${generationGpus.join(",")}]`,
    `proof [${proofGpus.join(",")}]${besideGeneration(proofGpus, colocatedGpus)}`,
  ].join("; ");
  if (problems.length > 0) {
    const colocate = problems.some((p) => p.endsWith("overlaps generation"))
      ? " To run proof workers beside generation on purpose, set GRAIL_PIPELINE_PROOF_COLOCATE=true."
      : "";
    throw new ProtocolViolationError(
      `Pipeline GPU layout is invalid: ${summary} → ${problems.join("; ")}. GPU indices are relative to CUDA_VISIBLE_DEVICES; fix GRAIL_PIPELINE_VLLM_GPU, _VLLM_TP, _GENERATION_DP, _PROOF_GPU, _PROOF_GPU_IDS or CUDA_VISIBLE_DEVICES.${colocate}`,
      { visibleDeviceCount, generationGpus, proofGpus, problems },
    );
  }
  return { visibleDeviceCount, generationGpus, proofGpus, colocatedGpus, summary };
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

function besideGeneration(proofGpus: readonly number[], colocated: readonly number[]): string {
  if (colocated.length === 0) return "";
  return colocated.length === proofGpus.length
    ? " beside generation"
    : ` (${colocated.join(",")} beside generation)`;
}

function rangeReason(gpus: readonly number[], count: number | null): string {
  if (count === null || gpus.every((g) => g < 0)) return "negative";
  return count === 0 ? "not visible (no GPU is visible)" : `out of range (visible GPUs are 0..${count - 1})`;
}

/**
 * Maps a GPU index relative to CUDA_VISIBLE_DEVICES to the physical id a child process must be given
 * in its own CUDA_VISIBLE_DEVICES. With CUDA_VISIBLE_DEVICES unset the index is already physical.
 * Returns the entry as written (an index or a GPU-/MIG- UUID).
 */
export function physicalGpu(
  relativeIndex: number,
  cudaVisibleDevices: string | readonly string[] | null | undefined,
): string {
  if (!Number.isSafeInteger(relativeIndex) || relativeIndex < 0) {
    throw new ProtocolViolationError(`GPU index ${relativeIndex} is not a whole number ≥ 0`, {
      relativeIndex,
    });
  }
  if (cudaVisibleDevices === null || cudaVisibleDevices === undefined) return String(relativeIndex);
  let devices: readonly string[];
  try {
    devices =
      typeof cudaVisibleDevices === "string" ? parseDeviceList(cudaVisibleDevices) : cudaVisibleDevices;
  } catch (err) {
    if (!(err instanceof ValueProblem)) throw err;
    throw new ProtocolViolationError(
      `CUDA_VISIBLE_DEVICES=${JSON.stringify(cudaVisibleDevices)} ${err.message}`,
      {
        cudaVisibleDevices,
      },
    );
  }
  const physical = devices[relativeIndex];
  if (physical === undefined) {
    throw new ProtocolViolationError(
      `GPU index ${relativeIndex} is relative to CUDA_VISIBLE_DEVICES=${devices.join(",")}, which lists ${devices.length} device${devices.length === 1 ? "" : "s"}`,
      { relativeIndex, cudaVisibleDevices: devices },
    );
  }
  return physical;
}

/** The proof engine that runs on a proof GPU: its per-GPU entry, else the default. */
export function proofEngineFor(choice: ProofEngineChoice, gpu: number): ProofEngineKind {
  return choice.perGpu[gpu] ?? choice.default;
}
