import { GenerationConfigError } from "./errors.js";

/**
 * How to start a generation server. The miner's settings map onto this in generationLaunchOptions
 * (launch-settings.ts).
 */
export interface ServerLaunchOptions {
  /** First GPU of the server's range [gpuStart, gpuStart + tp·dp). */
  gpuStart: number;
  /** Tensor-parallel size: GPUs of one replica. */
  tp: number;
  /**
   * Data-parallel size (GRAIL_PIPELINE_GENERATION_DP): replicas of TP GPUs each behind the server's
   * one endpoint (SGLang --dp-size, vLLM --data-parallel-size). 1 (the default) passes no flag.
   */
  dp?: number;
  /** SGLang --mem-fraction-static / vLLM --gpu-memory-utilization. */
  memFraction: number;
  /** Server context length (SGLang --context-length / vLLM --max-model-len). */
  contextLength: number;
  /** vLLM --max-num-seqs (GRAIL_PIPELINE_MAX_NUM_SEQS); the reference's 64 when absent. */
  vllmMaxNumSeqs?: number | null;
  /**
   * SGLang --max-running-requests, passed only when set: the reference starts SGLang without it, so
   * SGLang sizes its running batch from the KV cache it reserved.
   */
  sglangMaxRunningRequests?: number | null;
  /** SGLang --disable-cuda-graph / vLLM --enforce-eager. */
  disableCudaGraph: boolean;
  /** Fixed port; a free loopback port is picked at every (re)start when absent. */
  port?: number;
  /** Bind address; loopback unless the server runs elsewhere (docker with host networking keeps it). */
  host?: string;
  /**
   * Launch command that the server flags are appended to, e.g. `["python3", "-m", "sglang.launch_server"]`
   * (bare metal) or a `docker run …` prefix. Tokens may contain `{gpus}`, `{port}` and `{host}`.
   */
  command?: readonly string[];
  /** Run at shutdown after the process group is gone (e.g. `docker rm -f <name>`); same placeholders. */
  stopCommand?: readonly string[];
  /**
   * `physical` (default, what the reference does): gpuStart names physical GPUs and the child gets
   * CUDA_VISIBLE_DEVICES=gpuStart..gpuStart+tp-1. `relative` (the miner's): indices count within
   * `visibleDevices` and are translated to the physical ids it names.
   */
  gpuIndexing?: "physical" | "relative";
  /**
   * The devices `relative` indices count within: the miner's CUDA_VISIBLE_DEVICES setting, which may
   * come from .env and then is not in this process's environment. Default: the parent's variable.
   */
  visibleDevices?: readonly string[] | null;
  /** Extra flags appended after the generated ones. */
  extraArgs?: readonly string[];
  /** Extra environment for the child (applied last). */
  env?: Readonly<Record<string, string>>;
  /**
   * Variables added to the parent's environment before the server's own are set (the operator's
   * `.env` entries for other programs, e.g. NCCL_P2P_DISABLE).
   */
  baseEnv?: Readonly<Record<string, string>>;
  /** How long to wait for health (GRAIL_PIPELINE_SERVER_TIMEOUT, default 300 s). */
  startupTimeoutMs?: number;
}

export function validateLaunchOptions(options: ServerLaunchOptions): void {
  const fail = (field: string, value: unknown, allowed: string) => {
    throw new GenerationConfigError(`generation server option ${field}=${String(value)} must be ${allowed}`, {
      field,
      value,
    });
  };
  if (!Number.isInteger(options.gpuStart) || options.gpuStart < 0)
    fail("gpuStart", options.gpuStart, "an integer ≥ 0");
  if (!Number.isInteger(options.tp) || options.tp < 1) fail("tp", options.tp, "an integer ≥ 1");
  if (options.dp !== undefined && (!Number.isInteger(options.dp) || options.dp < 1))
    fail("dp", options.dp, "an integer ≥ 1");
  if (!(options.memFraction > 0 && options.memFraction <= 1))
    fail("memFraction", options.memFraction, "in (0, 1]");
  if (!Number.isInteger(options.contextLength) || options.contextLength < 1) {
    fail("contextLength", options.contextLength, "an integer ≥ 1");
  }
  for (const field of ["vllmMaxNumSeqs", "sglangMaxRunningRequests"] as const) {
    const value = options[field];
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value < 1)) {
      fail(field, value, "an integer ≥ 1 or null");
    }
  }
  if (
    options.port !== undefined &&
    (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)
  ) {
    fail("port", options.port, "an integer in [1, 65535]");
  }
  if (options.command !== undefined && options.command.length === 0)
    fail("command", "[]", "a non-empty argv");
}

/** How many GPUs the server spans: TP × DP. */
export function serverGpuCount(options: Pick<ServerLaunchOptions, "tp" | "dp">): number {
  return options.tp * (options.dp ?? 1);
}

/**
 * The CUDA_VISIBLE_DEVICES value for a server spanning [gpuStart, gpuStart + count).
 * @param visible the devices `relative` indices count within (a CUDA_VISIBLE_DEVICES value or its
 *   entries); unset means every device, an empty value none
 */
export function serverGpuList(
  gpuStart: number,
  count: number,
  indexing: "physical" | "relative" = "physical",
  visible: string | readonly string[] | undefined,
): string {
  const range = Array.from({ length: count }, (_, i) => gpuStart + i);
  if (indexing === "physical" || visible === undefined) return range.join(",");
  const devices = (typeof visible === "string" ? visible.split(",") : visible)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const last = gpuStart + count - 1;
  if (last >= devices.length) {
    const shown = typeof visible === "string" ? visible : visible.join(",");
    throw new GenerationConfigError(
      `generation GPUs [${gpuStart}, ${last}] exceed the ${devices.length} devices in CUDA_VISIBLE_DEVICES=${shown}; lower GRAIL_PIPELINE_VLLM_GPU, GRAIL_PIPELINE_VLLM_TP or GRAIL_PIPELINE_GENERATION_DP, or expose more GPUs`,
      { gpuStart, count, visible: shown },
    );
  }
  return range.map((i) => devices[i]).join(",");
}

/** Replaces `{gpus}`, `{port}`, `{host}` in each argv token. */
export function substitute(tokens: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return tokens.map((token) => token.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole));
}

/**
 * A docker launch prefix: the container sees only the server's GPUs (docker's `--gpus device=`),
 * shares the host network so the loopback port works, and mounts the given host paths at the same
 * location so model paths (and later weight-sync paths) mean the same inside.
 */
export function dockerCommand(input: {
  image: string;
  containerName: string;
  mounts: readonly string[];
  entrypoint: readonly string[];
}): { command: string[]; stopCommand: string[] } {
  const mounts = input.mounts.flatMap((m) => ["-v", `${m}:${m}`]);
  return {
    command: [
      "docker",
      "run",
      "--rm",
      "--name",
      input.containerName,
      "--gpus",
      '"device={gpus}"',
      "--network",
      "host",
      "--ipc",
      "host",
      ...mounts,
      input.image,
      ...input.entrypoint,
    ],
    stopCommand: ["docker", "rm", "-f", input.containerName],
  };
}
