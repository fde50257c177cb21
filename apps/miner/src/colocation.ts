import { type MinerConfig, physicalGpu } from "@grail/config";
import { proofMemoryNeed } from "@grail/engine-native";
import type { ProofColocation, ProofMemoryReport } from "@grail/generation";
import { gpuTotalMemoryBytes } from "./gpus.js";

/**
 * What the wiring needs to start a generation server beside proof workers: the co-located GPUs
 * (GpuLayout.colocatedGpus), the proof engine's memory report and each GPU's total memory, read
 * under its physical id. Null when no proof GPU is a generation GPU.
 */
export function proofColocation(
  cfg: Pick<MinerConfig, "pipeline">,
  colocatedGpus: readonly number[],
  report: ProofMemoryReport = engineMemoryReport(cfg.pipeline.maxModelLen),
  totalOf: (physicalId: string) => Promise<number> = gpuTotalMemoryBytes,
): ProofColocation | null {
  if (colocatedGpus.length === 0) return null;
  return {
    gpus: [...colocatedGpus],
    proofMemoryNeed: report,
    gpuTotalMemoryBytes: (gpu) => totalOf(physicalGpu(gpu, cfg.pipeline.cudaVisibleDevices)),
  };
}

/**
 * The proof engine's device memory for the largest batch a worker gets: one group of 16 rollouts
 * as long as the context the miner allows (GRAIL_PIPELINE_MAX_MODEL_LEN), from the checkpoint's
 * config.json and the CUDA backend's own allocation plan.
 */
export function engineMemoryReport(maxModelLen: number): ProofMemoryReport {
  return async (modelDir) => {
    const need = proofMemoryNeed(modelDir, { rollouts: 16, tokensPerRollout: maxModelLen });
    return {
      weightsBytes: need.weightsBytes,
      activationBytes: need.activationBytes,
      totalBytes: need.totalBytes + WORKER_PROCESS_OVERHEAD_BYTES,
    };
  };
}

/**
 * What a proof worker process holds beyond the engine's buffers: its CUDA context, cuBLASLt's kernels
 * and allocator rounding. Measured 0.57–0.63 GiB over the reported need on H100 and H200
 * (docs/performance.md); rounded up.
 */
export const WORKER_PROCESS_OVERHEAD_BYTES = 0.75 * 1024 ** 3;
