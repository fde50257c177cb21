import type { GenerationBackend } from "./generation-server.js";
import type { ServerLaunchOptions } from "./launch-options.js";

/**
 * The miner's settings that shape the generation server's launch: the fields of @grail/config's
 * PipelineConfig by the same names (typed here so this package does not depend on the config one).
 */
export interface GenerationLaunchSettings {
  readonly backend: GenerationBackend;
  /** GRAIL_PIPELINE_VLLM_GPU, relative to CUDA_VISIBLE_DEVICES. */
  readonly generationGpu: number;
  /** GRAIL_PIPELINE_VLLM_TP. */
  readonly tensorParallel: number;
  /** GRAIL_PIPELINE_GENERATION_DP; 1 when absent. */
  readonly dataParallel?: number;
  /** GRAIL_PIPELINE_GPU_MEM_UTIL. */
  readonly gpuMemUtil: number;
  /** GRAIL_PIPELINE_MAX_MODEL_LEN. */
  readonly maxModelLen: number;
  /** GRAIL_PIPELINE_MAX_NUM_SEQS. */
  readonly maxNumSeqs: number;
  /** GRAIL_PIPELINE_DISABLE_CUDA_GRAPH. */
  readonly disableCudaGraph: boolean;
  /** GRAIL_PIPELINE_SERVER_TIMEOUT. */
  readonly serverTimeoutSeconds: number;
  /** GRAIL_PIPELINE_SGLANG_COMMAND / GRAIL_PIPELINE_VLLM_COMMAND; null for the built-in default. */
  readonly sglangCommand: readonly string[] | null;
  readonly vllmCommand: readonly string[] | null;
  /** CUDA_VISIBLE_DEVICES as configured (.env or the environment); null when unset. */
  readonly cudaVisibleDevices: readonly string[] | null;
}

/**
 * How the miner launches its generation server from its settings; `forwarded` are the `.env`'s
 * variables for other programs, which the server sees as the reference's would.
 */
export function generationLaunchOptions(
  settings: GenerationLaunchSettings,
  forwarded: Readonly<Record<string, string>> = {},
): ServerLaunchOptions {
  const command = settings.backend === "sglang" ? settings.sglangCommand : settings.vllmCommand;
  return {
    gpuStart: settings.generationGpu,
    tp: settings.tensorParallel,
    // DP=1 is the reference's launch: no option, no flag.
    ...(settings.dataParallel !== undefined && settings.dataParallel !== 1
      ? { dp: settings.dataParallel }
      : {}),
    memFraction: settings.gpuMemUtil,
    contextLength: settings.maxModelLen,
    // vLLM only: the reference never passes SGLang an in-flight cap.
    vllmMaxNumSeqs: settings.maxNumSeqs,
    disableCudaGraph: settings.disableCudaGraph,
    gpuIndexing: "relative",
    visibleDevices: settings.cudaVisibleDevices,
    startupTimeoutMs: settings.serverTimeoutSeconds * 1000,
    ...(Object.keys(forwarded).length > 0 ? { baseEnv: forwarded } : {}),
    ...(command ? { command } : {}),
  };
}
