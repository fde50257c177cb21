import path from "node:path";
import {
  type ServerLaunchOptions,
  serverGpuCount,
  serverGpuList,
  substitute,
  validateLaunchOptions,
} from "../launch-options.js";
import { freePort } from "../net.js";
import type { LaunchSpec } from "../supervisor.js";

export const SGLANG_DEFAULT_COMMAND: readonly string[] = ["python3", "-m", "sglang.launch_server"];

/**
 * Flags of spec miner-pipeline §4.1, with the documented intent (§11 item 2) that --tp-size and the
 * GPU range follow TP, plus --dp-size (DP > 1), --max-running-requests and --disable-cuda-graph only
 * when asked (test/reference-launch.test.ts lists every difference from the reference's launch).
 */
export function sglangServerArgs(input: {
  modelPath: string;
  servedModelName: string;
  host: string;
  port: number;
  options: ServerLaunchOptions;
}): string[] {
  const { options } = input;
  const args = [
    "--model-path",
    input.modelPath,
    "--served-model-name",
    input.servedModelName,
    "--host",
    input.host,
    "--port",
    String(input.port),
    "--dtype",
    "bfloat16",
    "--tp-size",
    String(options.tp),
    // SGLang's own router spreads requests over the replicas; TP·DP GPUs in all.
    ...((options.dp ?? 1) > 1 ? ["--dp-size", String(options.dp)] : []),
    "--mem-fraction-static",
    String(options.memFraction),
    "--context-length",
    String(options.contextLength),
    "--trust-remote-code",
    "--load-balance-method",
    "total_tokens",
    // The miner process already holds CUDA contexts (proof workers); custom all-reduce breaks then.
    "--disable-custom-all-reduce",
    // SGLang 0.5.10 hits illegal-address errors in piecewise graph capture on Hopper/Blackwell.
    "--disable-piecewise-cuda-graph",
  ];
  if (options.sglangMaxRunningRequests !== undefined && options.sglangMaxRunningRequests !== null) {
    args.push("--max-running-requests", String(options.sglangMaxRunningRequests));
  }
  if (options.disableCudaGraph) args.push("--disable-cuda-graph");
  if (options.extraArgs) args.push(...options.extraArgs);
  return args;
}

/**
 * Child environment: the parent's, with the server's GPU range and, as the reference does, the
 * interpreter's directory on PATH when it is not there yet.
 */
export function serverEnv(
  options: ServerLaunchOptions,
  command: readonly string[],
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  env.CUDA_VISIBLE_DEVICES = serverGpuList(
    options.gpuStart,
    serverGpuCount(options),
    options.gpuIndexing ?? "physical",
    options.visibleDevices ?? base.CUDA_VISIBLE_DEVICES,
  );
  const exe = command[0];
  // A bare name was found on PATH, so its directory is there already.
  if (exe?.includes(path.sep)) {
    // Tools the server shells out to (ninja, nvcc wrappers) live next to its interpreter.
    const bin = path.dirname(path.resolve(exe));
    const entries = (base.PATH ?? "").split(path.delimiter);
    if (!entries.includes(bin)) env.PATH = `${bin}${path.delimiter}${base.PATH ?? ""}`;
  }
  return { ...env, ...(options.env ?? {}) };
}

/** Builds the launch spec for one (re)start; `modelPath` is read at call time (it changes on weight sync). */
export async function sglangLaunchSpec(modelPath: string, options: ServerLaunchOptions): Promise<LaunchSpec> {
  validateLaunchOptions(options);
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort(host));
  const env = serverEnv(options, options.command ?? SGLANG_DEFAULT_COMMAND, {
    ...process.env,
    ...options.baseEnv,
  });
  const values = { gpus: env.CUDA_VISIBLE_DEVICES ?? "", port: String(port), host };
  const [command, ...prefixArgs] = substitute(options.command ?? SGLANG_DEFAULT_COMMAND, values);
  const spec: LaunchSpec = {
    command: command!,
    args: [
      ...prefixArgs,
      ...sglangServerArgs({ modelPath, servedModelName: path.basename(modelPath), host, port, options }),
    ],
    env,
    baseUrl: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
  };
  if (options.stopCommand) spec.stopCommand = substitute(options.stopCommand, values);
  return spec;
}
