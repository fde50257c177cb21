import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "@grail/config";
import { proofMemoryNeed, writeRandomModel } from "@grail/engine-native";
import { describe, expect, it } from "vitest";
import { proofColocation, WORKER_PROCESS_OVERHEAD_BYTES } from "../src/colocation.js";
import { gpuTotalMemoryBytes } from "../src/gpus.js";

const MiB = 1024 ** 2;

const cfg = loadConfig({
  env: {
    HOME: "/home/miner",
    CUDA_VISIBLE_DEVICES: "4,5,6,7",
    GRAIL_PIPELINE_VLLM_TP: "2",
    GRAIL_PIPELINE_GENERATION_DP: "2",
    GRAIL_PIPELINE_PROOF_GPU: "3",
    GRAIL_PIPELINE_PROOF_COLOCATE: "true",
  },
  envFile: null,
  cwd: "/srv/miner",
  registerSecrets: false,
});

describe("proof workers beside generation, as the miner wires them", () => {
  it("is nothing to wire when no proof GPU is a generation GPU", () => {
    expect(proofColocation(cfg, [], undefined)).toBeNull();
  });

  it("reports the engine's own need for a group of 16 rollouts of GRAIL_PIPELINE_MAX_MODEL_LEN tokens", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "colocation-model-"));
    try {
      writeRandomModel(dir, {
        modelType: "qwen2",
        hiddenSize: 64,
        numLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        intermediateSize: 128,
        vocabSize: 256,
        seed: 3,
      });
      const colocation = proofColocation(cfg, [3]);
      const reported = await colocation!.proofMemoryNeed(dir);
      const engine = proofMemoryNeed(dir, { rollouts: 16, tokensPerRollout: cfg.pipeline.maxModelLen });
      expect(reported).toEqual({
        weightsBytes: engine.weightsBytes,
        activationBytes: engine.activationBytes,
        // The worker's CUDA context and kernels on top (measured 0.57–0.63 GiB, docs/performance.md).
        totalBytes: engine.totalBytes + WORKER_PROCESS_OVERHEAD_BYTES,
      });
      expect(engine.batch.tokens).toBe(16 * cfg.pipeline.maxModelLen);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads each co-located GPU's total under its physical id and hands the report through", async () => {
    const asked: string[] = [];
    const report = async () => ({ weightsBytes: 1, activationBytes: 2 });
    const colocation = proofColocation(cfg, [3], report, async (physical) => {
      asked.push(physical);
      return 80 * 1024 * MiB;
    });
    expect(colocation?.gpus).toEqual([3]);
    expect(colocation?.proofMemoryNeed).toBe(report);
    expect(await colocation?.gpuTotalMemoryBytes(3)).toBe(80 * 1024 * MiB);
    // Relative GPU 3 of CUDA_VISIBLE_DEVICES=4,5,6,7
    expect(asked).toEqual(["7"]);
  });
});

describe("a GPU's total memory from nvidia-smi", () => {
  it("asks for memory.total of that GPU in MiB and converts it to bytes", async () => {
    const calls: string[][] = [];
    const total = await gpuTotalMemoryBytes("GPU-1a2b", async (args) => {
      calls.push([...args]);
      return "81559\n";
    });
    expect(total).toBe(81559 * MiB);
    expect(calls).toEqual([["--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", "GPU-1a2b"]]);
  });

  it("refuses an answer that is not one whole number of MiB, and a failed query, naming the GPU", async () => {
    for (const answer of ["", "N/A", "81559\n81559\n", "0", "80 GiB"]) {
      await expect(gpuTotalMemoryBytes("3", async () => answer)).rejects.toThrow(
        /nvidia-smi reported memory\.total .* for GPU 3/,
      );
    }
    await expect(
      gpuTotalMemoryBytes("3", async () => {
        throw new Error("spawn nvidia-smi ENOENT");
      }),
    ).rejects.toThrow(/could not ask nvidia-smi for the total memory of GPU 3: spawn nvidia-smi ENOENT/);
  });
});
