import { type MinerConfig, physicalGpu } from "@grail/config";
import type { ProofColocation, ProofMemoryReport } from "@grail/generation";
import { gpuTotalMemoryBytes } from "./gpus.js";

/** GRAIL_PIPELINE_PROOF_COLOCATE=true put proof GPUs inside the generation range, and nothing reports their need. */
export class ColocationUnavailableError extends Error {
  readonly code = "colocation_unavailable";
  constructor(
    message: string,
    readonly context: { gpus: readonly number[] },
  ) {
    super(message);
    this.name = "ColocationUnavailableError";
  }
}

/**
 * What the wiring needs to start a generation server beside proof workers: the co-located GPUs
 * (GpuLayout.colocatedGpus), the proof engine's memory report and each GPU's total memory, read
 * under its physical id. Null when no proof GPU is a generation GPU; refused when proofs would
 * share GPUs but no report says how much memory they take.
 */
export function proofColocation(
  cfg: Pick<MinerConfig, "pipeline">,
  colocatedGpus: readonly number[],
  report: ProofMemoryReport | undefined,
  totalOf: (physicalId: string) => Promise<number> = gpuTotalMemoryBytes,
): ProofColocation | null {
  if (colocatedGpus.length === 0) return null;
  const gpus = `GPU${colocatedGpus.length > 1 ? "s" : ""} ${colocatedGpus.join(",")}`;
  if (!report) {
    throw new ColocationUnavailableError(
      `GRAIL_PIPELINE_PROOF_COLOCATE=true runs proof ${gpus} beside generation, but the proof engine of this build does not report its memory need (weights + peak activation bytes), which the generation server's memory fraction must be lowered by; give the proof workers GPUs of their own (GRAIL_PIPELINE_PROOF_GPU / _PROOF_GPU_IDS outside the generation range) and set GRAIL_PIPELINE_PROOF_COLOCATE=false`,
      { gpus: colocatedGpus },
    );
  }
  return {
    gpus: [...colocatedGpus],
    proofMemoryNeed: report,
    gpuTotalMemoryBytes: (gpu) => totalOf(physicalGpu(gpu, cfg.pipeline.cudaVisibleDevices)),
  };
}
