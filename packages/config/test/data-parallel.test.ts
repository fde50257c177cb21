import { ProtocolViolationError } from "@grail/protocol";
import { describe, expect, test } from "vitest";
import { checkGpuLayout, describeConfig, type GpuLayoutSettings } from "../src/index.js";
import { configError, load } from "./helpers.js";

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

describe("GRAIL_PIPELINE_GENERATION_DP and GRAIL_PIPELINE_PROOF_COLOCATE", () => {
  test("default to one replica and no co-location (the reference's layout)", () => {
    expect(load().pipeline).toMatchObject({ dataParallel: 1, proofColocate: false });
    const set = load({ GRAIL_PIPELINE_GENERATION_DP: "4", GRAIL_PIPELINE_PROOF_COLOCATE: "true" });
    expect(set.pipeline).toMatchObject({ dataParallel: 4, proofColocate: true });
  });

  test("a data-parallel size that is not a whole number ≥ 1 is refused with the variable", () => {
    for (const bad of ["0", "-1", "1.5", "two"]) {
      expect(configError({ GRAIL_PIPELINE_GENERATION_DP: bad }).message).toContain(
        "GRAIL_PIPELINE_GENERATION_DP",
      );
    }
    expect(configError({ GRAIL_PIPELINE_PROOF_COLOCATE: "maybe" }).message).toContain(
      "GRAIL_PIPELINE_PROOF_COLOCATE",
    );
  });

  test("describeConfig shows TP × DP and the whole generation range", () => {
    const text = describeConfig(
      load({ GRAIL_PIPELINE_VLLM_TP: "2", GRAIL_PIPELINE_GENERATION_DP: "2", GRAIL_PIPELINE_PROOF_GPU: "4" }),
    ).join("\n");
    expect(text).toContain("GPUs: generation sglang TP=2 × DP=2 on [0,1,2,3], proof [4]");
  });
});

describe("the GPU layout check over the TP·DP range", () => {
  test("generation spans TP·DP GPUs; DP=1 reads as before", () => {
    const result = checkGpuLayout(layout({ tensorParallel: 2, dataParallel: 2, proofGpu: 4 }), 5);
    expect(result.generationGpus).toEqual([0, 1, 2, 3]);
    expect(result.colocatedGpus).toEqual([]);
    expect(result.summary).toBe("visible GPUs 0..4; generation TP=2 × DP=2 on [0,1,2,3]; proof [4]");
    expect(checkGpuLayout(layout({ dataParallel: 1 }), 2).summary).toBe(
      "visible GPUs 0..1; generation TP=1 on [0]; proof [1]",
    );
  });

  test("a range beyond the visible GPUs is out of range", () => {
    const err = violation(layout({ generationGpu: 1, tensorParallel: 2, dataParallel: 2, proofGpu: 0 }), 4);
    expect(err.context.problems).toEqual(["generation GPU 4 is out of range (visible GPUs are 0..3)"]);
    expect(err.message).toContain("generation TP=2 × DP=2 on [1,2,3,4]");
    expect(err.message).toContain("fix GRAIL_PIPELINE_VLLM_GPU, _VLLM_TP, _GENERATION_DP,");
  });

  test("a proof GPU inside the range is refused without GRAIL_PIPELINE_PROOF_COLOCATE, which the message names", () => {
    const err = violation(layout({ tensorParallel: 2, dataParallel: 2, proofGpu: 3 }), 4);
    expect(err.context.problems).toEqual(["proof GPU 3 overlaps generation"]);
    expect(err.message).toContain("GRAIL_PIPELINE_PROOF_COLOCATE=true");
  });

  test("with GRAIL_PIPELINE_PROOF_COLOCATE=true a proof GPU may sit beside generation", () => {
    const beside = checkGpuLayout(
      layout({ tensorParallel: 2, dataParallel: 2, proofGpu: 3, proofColocate: true }),
      4,
    );
    expect(beside).toEqual({
      visibleDeviceCount: 4,
      generationGpus: [0, 1, 2, 3],
      proofGpus: [3],
      colocatedGpus: [3],
      summary: "visible GPUs 0..3; generation TP=2 × DP=2 on [0,1,2,3]; proof [3] beside generation",
    });
    const some = checkGpuLayout(layout({ dataParallel: 7, proofGpuIds: [6, 7], proofColocate: true }), 8);
    expect(some.colocatedGpus).toEqual([6]);
    expect(some.summary).toBe(
      "visible GPUs 0..7; generation TP=1 × DP=7 on [0,1,2,3,4,5,6]; proof [6,7] (6 beside generation)",
    );
  });

  test("co-location still refuses repeated and out-of-range proof GPUs", () => {
    const err = violation(layout({ dataParallel: 4, proofGpuIds: [3, 3, 5], proofColocate: true }), 4);
    expect(err.context.problems).toEqual([
      "proof GPU 3 is listed twice",
      "proof GPU 5 is out of range (visible GPUs are 0..3)",
    ]);
  });
});
