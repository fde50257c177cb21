import { afterEach, describe, expect, it, vi } from "vitest";
import {
  GenerationConfigError,
  type GenerationLaunchSettings,
  generationLaunchOptions,
  type ServerLaunchOptions,
  sglangLaunchSpec,
  vllmLaunchSpec,
} from "../src/index.js";

const launch: ServerLaunchOptions = {
  gpuStart: 0,
  tp: 1,
  memFraction: 0.9,
  contextLength: 12288,
  disableCudaGraph: false,
  port: 31000,
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("data-parallel generation (TP × DP)", () => {
  it("starts SGLang with --tp-size 2 --dp-size 2 over four GPUs", async () => {
    const spec = await sglangLaunchSpec("/ckpt/checkpoint-7", { ...launch, gpuStart: 2, tp: 2, dp: 2 });
    expect(spec.args).toEqual([
      "-m",
      "sglang.launch_server",
      "--model-path",
      "/ckpt/checkpoint-7",
      "--served-model-name",
      "checkpoint-7",
      "--host",
      "127.0.0.1",
      "--port",
      "31000",
      "--dtype",
      "bfloat16",
      "--tp-size",
      "2",
      "--dp-size",
      "2",
      "--mem-fraction-static",
      "0.9",
      "--context-length",
      "12288",
      "--trust-remote-code",
      "--load-balance-method",
      "total_tokens",
      "--disable-custom-all-reduce",
      "--disable-piecewise-cuda-graph",
    ]);
    expect(spec.env.CUDA_VISIBLE_DEVICES).toBe("2,3,4,5");
    expect(spec.baseUrl).toBe("http://127.0.0.1:31000");
  });

  it("starts vLLM with --tensor-parallel-size 2 --data-parallel-size 2 over four GPUs", async () => {
    const spec = await vllmLaunchSpec("/links/vllm_active", { ...launch, tp: 2, dp: 2 });
    expect(spec.args.slice(spec.args.indexOf("--tensor-parallel-size"))).toEqual([
      "--tensor-parallel-size",
      "2",
      "--data-parallel-size",
      "2",
      "--gpu-memory-utilization",
      "0.9",
      "--max-model-len",
      "12288",
      "--max-num-seqs",
      "64",
      "--enable-sleep-mode",
    ]);
    expect(spec.env.CUDA_VISIBLE_DEVICES).toBe("0,1,2,3");
  });

  it("counts the TP·DP range within the configured CUDA_VISIBLE_DEVICES", async () => {
    vi.stubEnv("CUDA_VISIBLE_DEVICES", "0,1");
    const relative = {
      ...launch,
      gpuStart: 1,
      tp: 2,
      dp: 2,
      gpuIndexing: "relative" as const,
      visibleDevices: ["8", "9", "10", "11", "12", "13"],
    };
    expect((await sglangLaunchSpec("/m", relative)).env.CUDA_VISIBLE_DEVICES).toBe("9,10,11,12");
    expect((await vllmLaunchSpec("/links/vllm_active", relative)).env.CUDA_VISIBLE_DEVICES).toBe(
      "9,10,11,12",
    );
    // Five visible devices hold TP=2 but not TP=2 × DP=2 from index 2.
    await expect(
      sglangLaunchSpec("/m", { ...relative, gpuStart: 2, visibleDevices: ["8", "9", "10", "11", "12"] }),
    ).rejects.toThrow(/generation GPUs \[2, 5\] exceed the 5 devices.*GRAIL_PIPELINE_GENERATION_DP/);
  });

  it("passes no data-parallel flag with DP=1: the same launch as without the option", async () => {
    const sglangOne = await sglangLaunchSpec("/m", { ...launch, tp: 2, dp: 1 });
    const sglangNone = await sglangLaunchSpec("/m", { ...launch, tp: 2 });
    expect(sglangOne).toEqual(sglangNone);
    expect(sglangOne.args).not.toContain("--dp-size");
    const vllmOne = await vllmLaunchSpec("/l/vllm_active", { ...launch, tp: 2, dp: 1 });
    const vllmNone = await vllmLaunchSpec("/l/vllm_active", { ...launch, tp: 2 });
    expect(vllmOne).toEqual(vllmNone);
    expect(vllmOne.args).not.toContain("--data-parallel-size");
  });

  it("refuses a data-parallel size that is not a whole number ≥ 1", async () => {
    for (const dp of [0, 1.5, -2, Number.NaN]) {
      await expect(sglangLaunchSpec("/m", { ...launch, dp })).rejects.toThrow(GenerationConfigError);
      await expect(vllmLaunchSpec("/l/vllm_active", { ...launch, dp })).rejects.toThrow(/dp=/);
    }
  });

  it("maps GRAIL_PIPELINE_GENERATION_DP onto the launch, and leaves DP=1 out", () => {
    const settings: GenerationLaunchSettings = {
      backend: "sglang",
      generationGpu: 0,
      tensorParallel: 2,
      gpuMemUtil: 0.9,
      maxModelLen: 4096,
      maxNumSeqs: 64,
      disableCudaGraph: false,
      serverTimeoutSeconds: 300,
      sglangCommand: null,
      vllmCommand: null,
      cudaVisibleDevices: null,
    };
    const twoReplicas = generationLaunchOptions({ ...settings, dataParallel: 2 });
    expect(twoReplicas).toMatchObject({ tp: 2, dp: 2 });
    expect(generationLaunchOptions({ ...settings, dataParallel: 1 })).toEqual(
      generationLaunchOptions(settings),
    );
  });
});
