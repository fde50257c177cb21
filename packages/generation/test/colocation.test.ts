import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { writeSafetensors } from "@grail/engine-native";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  COLOCATION_KV_RESERVE_BYTES,
  ColocationError,
  type ColocationFigures,
  colocatedLaunchOptions,
  colocatedMemFraction,
  generationWeightBytes,
  type ServerLaunchOptions,
  sglangLaunchSpec,
  vllmLaunchSpec,
} from "../src/index.js";

const GiB = 1024 ** 3;

const figures: ColocationFigures = {
  gpus: [3],
  memFraction: 0.88,
  proofNeed: { weightsBytes: 15 * GiB, activationBytes: 5 * GiB },
  gpuTotalBytes: 80 * GiB,
  generationWeightsPerGpuBytes: 7.5 * GiB,
};

function refusal(f: ColocationFigures): ColocationError {
  try {
    colocatedMemFraction(f);
  } catch (err) {
    if (err instanceof ColocationError) return err;
    throw err;
  }
  throw new Error(`expected a ColocationError for ${JSON.stringify(f)}`);
}

describe("the generation server's memory fraction beside proof workers", () => {
  it("is the configured fraction less the proof engine's need over the GPU's total", () => {
    // 0.88 − 20 GiB / 80 GiB
    expect(colocatedMemFraction(figures)).toBe(0.63);
    // Rounded down, never up: 0.9 − 10/79.6 = 0.77437…
    expect(
      colocatedMemFraction({
        ...figures,
        memFraction: 0.9,
        proofNeed: { weightsBytes: 8 * GiB, activationBytes: 2 * GiB },
        gpuTotalBytes: 79.6 * GiB,
      }),
    ).toBe(0.774);
  });

  it("refuses a fraction that would leave less than the generation weights and a KV reserve, with the numbers", () => {
    const tight = refusal({
      ...figures,
      memFraction: 0.5,
      proofNeed: { weightsBytes: 30 * GiB, activationBytes: 2 * GiB },
    });
    // 0.5 − 32/80 = 0.1 → 8.0 GiB: more than the 7.5 GiB of weights, less than weights + the reserve
    for (const part of [
      "GPU 3",
      "32.0 GiB",
      "30.0 GiB",
      "2.0 GiB",
      "80.0 GiB",
      "GRAIL_PIPELINE_GPU_MEM_UTIL=0.5",
      "0.1",
      "8.0 GiB",
      "7.5 GiB",
    ]) {
      expect(tight.message).toContain(part);
    }
    expect(tight.context).toMatchObject({ memFraction: 0.5, loweredFraction: 0.1, gpuTotalBytes: 80 * GiB });
    // Without the reserve the same figures would fit.
    expect(
      colocatedMemFraction({
        ...figures,
        memFraction: 0.5,
        proofNeed: { weightsBytes: 30 * GiB, activationBytes: 2 * GiB },
        kvReserveBytes: 0,
      }),
    ).toBe(0.1);
    expect(COLOCATION_KV_RESERVE_BYTES).toBe(2 * GiB);
  });

  it("refuses a need that takes the whole configured fraction or more", () => {
    const err = refusal({
      ...figures,
      memFraction: 0.25,
      proofNeed: { weightsBytes: 20 * GiB, activationBytes: 0 },
    });
    expect(err.message).toMatch(/GRAIL_PIPELINE_GPU_MEM_UTIL=0\.25 would become 0 /);
    const over = refusal({ ...figures, proofNeed: { weightsBytes: 90 * GiB, activationBytes: 0 } });
    expect(over.message).toMatch(/would become -0\.245 /);
  });

  it("takes the report's total when it counts more than weights and activations (e.g. a GEMM workspace)", () => {
    const withWorkspace = { weightsBytes: 15 * GiB, activationBytes: 4 * GiB, totalBytes: 20 * GiB };
    expect(colocatedMemFraction({ ...figures, proofNeed: withWorkspace })).toBe(0.63);
    const err = refusal({ ...figures, memFraction: 0.3, proofNeed: withWorkspace });
    expect(err.message).toContain("need 20.0 GiB (weights 15.0 GiB + activations 4.0 GiB + 1.0 GiB more)");
    expect(refusal({ ...figures, proofNeed: { ...withWorkspace, totalBytes: 18 * GiB } }).message).toMatch(
      /reported totalBytes=19327352832, less than its weights and activations/,
    );
  });

  it("refuses a memory report or GPU total that is not a byte count", () => {
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(refusal({ ...figures, proofNeed: { weightsBytes: bad, activationBytes: 0 } }).message).toMatch(
        /proof engine reported weightsBytes=/,
      );
      expect(refusal({ ...figures, proofNeed: { weightsBytes: 0, activationBytes: bad } }).message).toMatch(
        /activationBytes=/,
      );
      expect(refusal({ ...figures, gpuTotalBytes: bad }).message).toMatch(/GPU total memory/);
    }
    expect(refusal({ ...figures, gpuTotalBytes: 0 }).message).toMatch(/GPU total memory/);
  });
});

describe("a co-located launch", () => {
  let dir: string;
  const launch: ServerLaunchOptions = {
    gpuStart: 0,
    tp: 2,
    dp: 2,
    memFraction: 0.88,
    contextLength: 4096,
    disableCudaGraph: false,
    port: 30500,
  };
  // 2 tensors of 3·4 and 4 elements (F32 on disk): 16 elements, 32 bytes as the server's bfloat16.
  const WEIGHT_BYTES = 32;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "grail-colocation-"));
    writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), {
      "a.weight": { dtype: "F32", shape: [3, 4], data: new Uint8Array(48) },
    });
    writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), {
      "b.weight": { dtype: "BF16", shape: [4], data: new Uint8Array(8) },
    });
    await writeFile(path.join(dir, "config.json"), "{}");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("counts the generation weights as bfloat16 from the checkpoint's safetensors headers", async () => {
    expect(await generationWeightBytes(dir)).toBe(WEIGHT_BYTES);
    const empty = await mkdtemp(path.join(tmpdir(), "grail-colocation-empty-"));
    try {
      await expect(generationWeightBytes(empty)).rejects.toThrow(/no \.safetensors file/);
      writeSafetensors(path.join(empty, "model.safetensors"), {
        bad: { dtype: "BF16", shape: [-1, 2], data: new Uint8Array(0) },
      });
      await expect(generationWeightBytes(empty)).rejects.toThrow(ColocationError);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("lowers the server's fraction by the injected need over the smallest co-located GPU", async () => {
    const asked: string[] = [];
    const totals: Record<number, number> = { 2: 80 * GiB, 3: 40 * GiB };
    const result = await colocatedLaunchOptions(launch, dir, {
      gpus: [2, 3],
      proofMemoryNeed: async (modelDir) => {
        asked.push(modelDir);
        return { weightsBytes: 6 * GiB, activationBytes: 2 * GiB };
      },
      gpuTotalMemoryBytes: async (gpu) => totals[gpu]!,
    });
    expect(asked).toEqual([dir]);
    // 0.88 − 8 GiB / 40 GiB
    expect(result.launch).toEqual({ ...launch, memFraction: 0.68 });
    expect(result.figures).toEqual({
      gpus: [2, 3],
      memFraction: 0.88,
      proofNeed: { weightsBytes: 6 * GiB, activationBytes: 2 * GiB },
      gpuTotalBytes: 40 * GiB,
      generationWeightsPerGpuBytes: WEIGHT_BYTES / 2,
    });
    const sglang = await sglangLaunchSpec(dir, result.launch);
    expect(sglang.args[sglang.args.indexOf("--mem-fraction-static") + 1]).toBe("0.68");
    const vllm = await vllmLaunchSpec(path.join(dir, "vllm_active"), result.launch);
    expect(vllm.args[vllm.args.indexOf("--gpu-memory-utilization") + 1]).toBe("0.68");
  });

  it("refuses at start when the proofs do not fit beside generation", async () => {
    await expect(
      colocatedLaunchOptions(launch, dir, {
        gpus: [3],
        proofMemoryNeed: async () => ({ weightsBytes: 70 * GiB, activationBytes: 4 * GiB }),
        gpuTotalMemoryBytes: async () => 80 * GiB,
      }),
    ).rejects.toThrow(/GPU 3 need 74\.0 GiB/);
  });

  it("says which GPU's total memory could not be read", async () => {
    await expect(
      colocatedLaunchOptions(launch, dir, {
        gpus: [3],
        proofMemoryNeed: async () => ({ weightsBytes: GiB, activationBytes: GiB }),
        gpuTotalMemoryBytes: async () => {
          throw new Error("nvidia-smi: not found");
        },
      }),
    ).rejects.toThrow(/total memory of GPU 3.*nvidia-smi: not found/);
  });
});
