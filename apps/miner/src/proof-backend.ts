import type { MinerConfig } from "@grail/config";
import { proofEngineFor } from "@grail/config";
import { availableBackends, type BackendReport } from "@grail/engine-native";
import { GrailError } from "@grail/protocol";

/** What the proof workers are told, and what a start must say about it. */
export interface ProofBackendChoice {
  /** Passed to every worker: "cuda" makes a worker that can only load the CPU backend fail its start. */
  backend: "cuda" | undefined;
  /** A line to announce at start (CPU proofs allowed on a real network), or null. */
  notice: string | null;
  /** One line for `--check`. */
  summary: string;
}

/** A real network's native proof workers would run on the CPU (the build has no usable CUDA backend). */
export class ProofBackendError extends GrailError {
  constructor(message: string, context: { reason: string; gpus: readonly number[] }) {
    super(message, context, { code: "cuda_required" });
  }
}

const FIX =
  "install a CUDA toolkit with cuBLAS (nvcc, cublasLt.h, libcublasLt.so; CUDA_HOME if not in /usr/local/cuda) " +
  'and rebuild with "GRAIL_ENGINE_CUDA=1 pnpm --filter @grail/engine-native build" (it then fails loudly instead of ' +
  "building CPU only), or set GRAIL_PIPELINE_PROOF_ALLOW_CPU=true to prove on the CPU (too slow for mainnet windows)";

/** The engine's report, with a missing or unloadable addon reported as CUDA being unavailable. */
export function probeBackends(): BackendReport {
  try {
    return availableBackends();
  } catch (err) {
    return { cpu: { available: true }, cuda: { available: false, reason: (err as Error).message } };
  }
}

/**
 * On a real network, native proof workers must prove on CUDA: a 7B model proved on the CPU misses
 * every window's deadline, so a build without CUDA fails the start (with the build's recorded
 * reason) unless the operator opted into the CPU. Torch-engine GPUs and the local network are
 * not concerned.
 */
export function chooseProofBackend(
  cfg: Pick<MinerConfig, "chain" | "pipeline">,
  proofGpus: readonly number[],
  probe: () => BackendReport = probeBackends,
): ProofBackendChoice {
  const native = proofGpus.filter((g) => proofEngineFor(cfg.pipeline.proofEngine, g) === "native");
  if (cfg.chain.embeddedDevnet || native.length === 0) {
    return {
      backend: undefined,
      notice: null,
      summary: "proof backend: the engine's choice (local network or torch engine)",
    };
  }
  const report = probe();
  if (report.cuda.available) {
    const names = (report.cuda.devices ?? []).map((d) => `${d.index}:${d.name}`).join(", ");
    return { backend: "cuda", notice: null, summary: `proof backend: CUDA (${names})` };
  }
  const reason = report.cuda.reason ?? "unknown";
  if (cfg.pipeline.proofAllowCpu) {
    const notice =
      `proofs run on the CPU (GRAIL_PIPELINE_PROOF_ALLOW_CPU=true): the CUDA backend is unavailable (${reason}); ` +
      "expect most windows to miss their deadline";
    return {
      backend: undefined,
      notice,
      summary: `proof backend: CPU, allowed by GRAIL_PIPELINE_PROOF_ALLOW_CPU (${reason})`,
    };
  }
  throw new ProofBackendError(
    `proof GPU(s) ${native.join(",")} need the native engine's CUDA backend on ${cfg.chain.network}, and it is unavailable: ${reason}. To fix: ${FIX}`,
    { reason, gpus: native },
  );
}
