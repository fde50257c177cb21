import path from "node:path";
import { ProtocolViolationError } from "@grail/protocol";
import { describe, expect, test } from "vitest";
import {
  checkGpuLayout,
  FLASH_ATTN_REFUSAL,
  type GpuLayoutSettings,
  loadConfig,
  physicalGpu,
  proofEngineFor,
} from "../src/index.js";
import { HOME, tempDir, writeFile } from "./helpers.js";

const dir = tempDir("grail-config-gpu-");

/** The miner guide's two-GPU `.env`, verbatim (inline comments included). */
const TWO_GPU_ENV = `# .env configuration for the default coding/math envs with pipeline mode
GRAIL_PIPELINE_BACKEND=sglang # Default and recommended
GRAIL_PIPELINE_VLLM_GPU=0 # Relative to CUDA_VISIBLE_DEVICES
GRAIL_PIPELINE_PROOF_GPU=1 # Relative to CUDA_VISIBLE_DEVICES
GRAIL_PIPELINE_VLLM_TP=1 # Bump only if you have spare GPUs
GRAIL_PIPELINE_MAX_MODEL_LEN=12288
GRAIL_PIPELINE_PROOF_FLASH_ATTN=false # MUST stay false to match validator SDPA
`;

/** The miner guide's eight-GPU additions, verbatim. */
const EIGHT_GPU_ENV = `# .env additions on top of the two-GPU example
GRAIL_PIPELINE_VLLM_GPU=0
GRAIL_PIPELINE_VLLM_TP=4 # GPUs 0-3 → SGLang TP=4 instance
GRAIL_PIPELINE_PROOF_GPU=4 # primary in-process worker
GRAIL_PIPELINE_PROOF_GPU_IDS=4,5,6,7 # GPUs 4-7 → proof workers
GRAIL_PIPELINE_PROOF_SUBPROCESS=true # GIL-free subprocess pool
GRAIL_PIPELINE_GROUPS_PER_BATCH=72 # send 72×16=1152 prompts per SGLang call
GRAIL_PIPELINE_GPU_MEM_UTIL=0.88
GRAIL_PIPELINE_MAX_MODEL_LEN=4096
GRAIL_PIPELINE_MAX_NUM_SEQS=512
GRAIL_PIPELINE_MAX_CONCURRENT=512
`;

function layout(overrides: Partial<GpuLayoutSettings>): GpuLayoutSettings {
  return {
    generationGpu: 0,
    tensorParallel: 1,
    proofGpu: 1,
    proofGpuIds: [],
    proofFlashAttn: false,
    ...overrides,
  };
}

function violation(settings: GpuLayoutSettings, visible: number | null): ProtocolViolationError {
  try {
    checkGpuLayout(settings, visible);
  } catch (err) {
    if (err instanceof ProtocolViolationError) return err;
    throw err;
  }
  throw new Error("expected a ProtocolViolationError");
}

describe("the miner guide's layouts are valid", () => {
  test("two GPUs: SGLang on 0, proofs on 1", () => {
    const envFile = writeFile(path.join(dir, "two", ".env"), TWO_GPU_ENV);
    const cfg = loadConfig({ env: { HOME, CUDA_VISIBLE_DEVICES: "0,1" }, envFile, registerSecrets: false });
    expect(cfg.pipeline.backend).toBe("sglang");
    const result = checkGpuLayout(cfg.pipeline, cfg.pipeline.cudaVisibleDevices!.length);
    expect(result).toEqual({
      visibleDeviceCount: 2,
      generationGpus: [0],
      proofGpus: [1],
      colocatedGpus: [],
      summary: "visible GPUs 0..1; generation TP=1 on [0]; proof [1]",
    });
    expect(physicalGpu(result.proofGpus[0]!, cfg.pipeline.cudaVisibleDevices)).toBe("1");
  });

  test("eight GPUs: SGLang TP=4 on 0-3, proof workers on 4-7", () => {
    const envFile = writeFile(path.join(dir, "eight", ".env"), TWO_GPU_ENV + EIGHT_GPU_ENV);
    const cfg = loadConfig({
      env: { HOME, CUDA_VISIBLE_DEVICES: "0,1,2,3,4,5,6,7" },
      envFile,
      registerSecrets: false,
    });
    expect(cfg.pipeline).toMatchObject({
      generationGpu: 0,
      tensorParallel: 4,
      proofGpu: 4,
      proofGpuIds: [4, 5, 6, 7],
      proofSubprocess: true,
      groupsPerBatch: 72,
      gpuMemUtil: 0.88,
      maxModelLen: 4096,
      maxNumSeqs: 512,
      maxConcurrent: 512,
      proofFlashAttn: false,
    });
    const result = checkGpuLayout(cfg.pipeline, 8);
    expect(result.generationGpus).toEqual([0, 1, 2, 3]);
    expect(result.proofGpus).toEqual([4, 5, 6, 7]);
    expect(result.summary).toBe("visible GPUs 0..7; generation TP=4 on [0,1,2,3]; proof [4,5,6,7]");
  });

  test("the same eight-GPU layout on a machine that shows the miner only 4 GPUs fails", () => {
    const err = violation(layout({ tensorParallel: 4, proofGpu: 4, proofGpuIds: [4, 5, 6, 7] }), 4);
    expect(err.message).toContain("visible GPUs 0..3; generation TP=4 on [0,1,2,3]; proof [4,5,6,7] →");
    expect(err.message).toContain("proof GPU 4 is out of range (visible GPUs are 0..3)");
    expect(err.message).toContain("proof GPU 7 is out of range");
  });
});

describe("invalid layouts raise ProtocolViolationError with the whole layout", () => {
  test("proof GPU overlapping generation (the shape of the message)", () => {
    const err = violation(layout({ tensorParallel: 2, proofGpuIds: [1, 2] }), 4);
    expect(err.message).toMatch(
      /^Pipeline GPU layout is invalid: visible GPUs 0\.\.3; generation TP=2 on \[0,1\]; proof \[1,2\] → proof GPU 1 overlaps generation\. /,
    );
    expect(err.context).toEqual({
      visibleDeviceCount: 4,
      generationGpus: [0, 1],
      proofGpus: [1, 2],
      problems: ["proof GPU 1 overlaps generation"],
    });
  });

  test("proof GPU out of range", () => {
    const err = violation(layout({ proofGpu: 2 }), 2);
    expect(err.message).toContain(
      "visible GPUs 0..1; generation TP=1 on [0]; proof [2] → proof GPU 2 is out of range",
    );
  });

  test("generation range beyond the visible GPUs", () => {
    const err = violation(layout({ generationGpu: 1, tensorParallel: 2, proofGpu: 0 }), 2);
    expect(err.message).toContain("generation TP=2 on [1,2]; proof [0] → generation GPU 2 is out of range");
  });

  test("duplicate proof GPUs", () => {
    const err = violation(layout({ proofGpuIds: [4, 5, 4] }), 8);
    expect(err.context.problems).toEqual(["proof GPU 4 is listed twice"]);
  });

  test("PROOF_FLASH_ATTN=true is refused with the reason, even in a valid layout", () => {
    const err = violation(layout({ proofFlashAttn: true }), 2);
    expect(err.context.problems).toEqual([FLASH_ATTN_REFUSAL]);
    expect(err.message).toContain("GRAIL_PIPELINE_PROOF_FLASH_ATTN=true is refused");
    expect(err.message).toContain("leave it false");
  });

  test("negative indices and no visible GPU", () => {
    expect(violation(layout({ generationGpu: -1 }), 2).context.problems).toEqual([
      "generation GPU -1 is negative",
    ]);
    expect(violation(layout({ proofGpuIds: [-2] }), 2).context.problems).toEqual([
      "proof GPU -2 is negative",
    ]);
    const none = violation(layout({}), 0);
    expect(none.message).toContain("visible GPUs none");
    expect(none.context.problems).toEqual([
      "generation GPU 0 is not visible (no GPU is visible)",
      "proof GPU 1 is not visible (no GPU is visible)",
    ]);
  });

  test("every problem is listed at once", () => {
    const err = violation(
      layout({
        tensorParallel: 2,
        proofGpuIds: [1, 3, 3, 9],
        proofFlashAttn: true,
        proofEngine: { default: "native", perGpu: { 6: "torch" } },
      }),
      4,
    );
    expect(err.context.problems).toEqual([
      "proof GPU 1 overlaps generation",
      "proof GPU 3 is listed twice",
      "proof GPU 9 is out of range (visible GPUs are 0..3)",
      "GRAIL_PIPELINE_PROOF_ENGINE names GPU 6, which is not a proof GPU",
      FLASH_ATTN_REFUSAL,
    ]);
  });

  test("with the device count unknown, repeats, overlaps, stray engine entries and FLASH_ATTN are still refused", () => {
    const err = violation(
      layout({
        tensorParallel: 2,
        proofGpuIds: [1, 3, 3, 70],
        proofEngine: { default: "native", perGpu: { 6: "torch" } },
        proofFlashAttn: true,
      }),
      null,
    );
    expect(err.message).toContain(
      "Pipeline GPU layout is invalid: visible GPUs unknown; generation TP=2 on [0,1]; proof [1,3,3,70] → ",
    );
    expect(err.context.problems).toEqual([
      "proof GPU 1 overlaps generation",
      "proof GPU 3 is listed twice",
      "GRAIL_PIPELINE_PROOF_ENGINE names GPU 6, which is not a proof GPU",
      FLASH_ATTN_REFUSAL,
    ]);
    // no range check without a count: GPU 70 may exist
    expect(checkGpuLayout(layout({ proofGpuIds: [70, 2] }), null)).toEqual({
      visibleDeviceCount: null,
      generationGpus: [0],
      proofGpus: [70, 2],
      colocatedGpus: [],
      summary: "visible GPUs unknown; generation TP=1 on [0]; proof [70,2]",
    });
  });

  test("a nonsensical device count is a programming error, not a layout problem", () => {
    expect(() => checkGpuLayout(layout({}), -1)).toThrow(RangeError);
    expect(() => checkGpuLayout(layout({}), 1.5)).toThrow(RangeError);
  });
});

describe("physicalGpu", () => {
  test("unset CUDA_VISIBLE_DEVICES: indices are physical", () => {
    expect(physicalGpu(3, null)).toBe("3");
    expect(physicalGpu(0, undefined)).toBe("0");
  });

  test("relative indices map through the list, as text or parsed", () => {
    expect(physicalGpu(1, "4,5,6,7")).toBe("5");
    expect(physicalGpu(3, ["4", "5", "6", "7"])).toBe("7");
    expect(physicalGpu(0, "GPU-1a2b,GPU-3c4d")).toBe("GPU-1a2b");
  });

  test("out of range, negative, malformed", () => {
    expect(() => physicalGpu(2, "4,5")).toThrow(ProtocolViolationError);
    expect(() => physicalGpu(2, "4,5")).toThrow(
      "GPU index 2 is relative to CUDA_VISIBLE_DEVICES=4,5, which lists 2 devices",
    );
    expect(() => physicalGpu(0, "")).toThrow("which lists 0 devices");
    expect(() => physicalGpu(-1, null)).toThrow(ProtocolViolationError);
    expect(() => physicalGpu(0, "4,,5")).toThrow('CUDA_VISIBLE_DEVICES="4,,5" has the entry ""');
  });
});

test("proofEngineFor: per-GPU entry, else the default", () => {
  const choice = { default: "native", perGpu: { 5: "torch" } } as const;
  expect(proofEngineFor(choice, 4)).toBe("native");
  expect(proofEngineFor(choice, 5)).toBe("torch");
});
