import { readFile } from "node:fs/promises";
import path from "node:path";
import { type ServerLaunchOptions, substitute, validateLaunchOptions } from "../launch-options.js";
import { freePort } from "../net.js";
import { serverEnv } from "../sglang/launch.js";
import type { LaunchSpec } from "../supervisor.js";

export const VLLM_DEFAULT_COMMAND: readonly string[] = [
  "python3",
  "-m",
  "vllm.entrypoints.openai.api_server",
];
export const VLLM_SERVED_MODEL_NAME = "vllm_active";
/** --max-num-seqs when none is given (the reference's GRAIL_PIPELINE_MAX_NUM_SEQS default). */
export const VLLM_DEFAULT_MAX_NUM_SEQS = 64;

/** "org/name" as on the Hugging Face Hub. */
const HF_REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;

/**
 * vLLM --tokenizer for a checkpoint, resolved at every launch as the reference does: the model_name
 * of the checkpoint's metadata.json when it is a Hub repository id (a delta checkpoint's
 * "async_trainer_snapshot" is not), else `fallback` (GRAIL_TRAIN_MODEL_ID). Unlike the reference,
 * which takes any name with a "/", a path (the trainer's local model directory) is not used: it does
 * not exist on the miner's machine and vLLM would not start.
 */
export async function vllmTokenizerFor(
  checkpointDir: string,
  fallback: string | null,
): Promise<string | null> {
  let metadata: unknown;
  try {
    metadata = JSON.parse(await readFile(path.join(checkpointDir, "metadata.json"), "utf8"));
  } catch {
    return fallback;
  }
  const name =
    typeof metadata === "object" && metadata !== null
      ? (metadata as { model_name?: unknown }).model_name
      : null;
  return typeof name === "string" && HF_REPO_ID.test(name) ? name : fallback;
}

/** Flags of spec miner-pipeline §4.5; the model is the stable symlink that weight sync re-points. */
export function vllmServerArgs(input: {
  symlinkPath: string;
  host: string;
  port: number;
  tokenizer?: string | null;
  options: ServerLaunchOptions;
}): string[] {
  const { options } = input;
  const args = [
    "--model",
    input.symlinkPath,
    "--served-model-name",
    VLLM_SERVED_MODEL_NAME,
    "--host",
    input.host,
    "--port",
    String(input.port),
    "--dtype",
    "bfloat16",
    "--kv-cache-dtype",
    "auto",
    "--tensor-parallel-size",
    String(options.tp),
    ...((options.dp ?? 1) > 1 ? ["--data-parallel-size", String(options.dp)] : []),
    "--gpu-memory-utilization",
    String(options.memFraction),
    "--max-model-len",
    String(options.contextLength),
    "--max-num-seqs",
    String(options.vllmMaxNumSeqs ?? VLLM_DEFAULT_MAX_NUM_SEQS),
  ];
  if (input.tokenizer) args.push("--tokenizer", input.tokenizer);
  // Sleep mode makes /sleep, /wake_up and reload_weights available for in-place weight sync.
  args.push("--enable-sleep-mode");
  if (options.disableCudaGraph) args.push("--enforce-eager");
  if (options.extraArgs) args.push(...options.extraArgs);
  return args;
}

export async function vllmLaunchSpec(
  symlinkPath: string,
  options: ServerLaunchOptions,
  tokenizer: string | null = null,
): Promise<LaunchSpec> {
  validateLaunchOptions(options);
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort(host));
  const command = options.command ?? VLLM_DEFAULT_COMMAND;
  const env = serverEnv(options, command, {
    ...process.env,
    ...options.baseEnv,
    // vLLM's allocator must not inherit expandable segments, which break sleep mode.
    PYTORCH_CUDA_ALLOC_CONF: "",
    // Exposes /sleep, /wake_up and /collective_rpc.
    VLLM_SERVER_DEV_MODE: "1",
  });
  const values = { gpus: env.CUDA_VISIBLE_DEVICES ?? "", port: String(port), host };
  const [exe, ...prefixArgs] = substitute(command, values);
  const spec: LaunchSpec = {
    command: exe!,
    args: [...prefixArgs, ...vllmServerArgs({ symlinkPath, host, port, tokenizer, options })],
    env,
    baseUrl: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
  };
  if (options.stopCommand) spec.stopCommand = substitute(options.stopCommand, values);
  return spec;
}
