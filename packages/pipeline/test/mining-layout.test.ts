import { describe, expect, it } from "vitest";
import {
  batchSeconds,
  generationRate,
  rankLayouts,
  referenceA100Rates,
  simulateWindows,
  TimeBudget,
} from "../src/index.js";

describe("time budget: tail batches", () => {
  it("offers the largest halving of the batch that still fits, then nothing", () => {
    const b = new TimeBudget({ safetyBlocks: 3 });
    b.batchTime.observe(120); // a full batch: 10 blocks
    b.uploadTime.observe(12);
    // needed(k) = ceil((120·k/72 + 12 + 36) / 12): 72 → 14, 36 → 9, 18 → 7, 9 → 6, 4 → 5, 1 → 5
    expect(b.groupsThatFit(300, 301, 72)).toBe(72); // 29 left
    expect(b.groupsThatFit(300, 316, 72)).toBe(36); // 14 left
    expect(b.groupsThatFit(300, 321, 72)).toBe(18); // 9 left
    expect(b.groupsThatFit(300, 324, 72)).toBe(4); // 6 left
    expect(b.groupsThatFit(300, 325, 72)).toBe(0); // 5 left: not even one group
  });

  it("scales a partial batch's time to a full batch before it enters the EMA", () => {
    const b = new TimeBudget({ safetyBlocks: 3 });
    b.observeBatch(30, 18, 72);
    expect(b.batchSeconds).toBe(120);
  });
});

describe("layout simulation", () => {
  const rates = referenceA100Rates();

  it("reproduces the spec's generation anchors for SGLang TP=4", () => {
    expect(generationRate(rates.generation, 4, 1152)).toBeCloseTo(12.44 / 0.97, 2);
    const low = generationRate(rates.generation, 4, 16) / generationRate(rates.generation, 4, 1e9);
    expect(low).toBeGreaterThan(0.05);
    expect(low).toBeLessThan(0.07);
    expect(batchSeconds(rates.generation, 4, 72)).toBeCloseTo(1152 / (12.44 / 0.97), 1);
  });

  it("is generation-bound on the guide's 8×A100 layout and proof-bound with one proof GPU", () => {
    const guide = simulateWindows({ tp: 4, proofGpus: 4, groupsPerBatch: 72 }, rates);
    expect(guide.bottleneck).toBe("generation");
    expect(guide.lateGroups).toBe(0);
    // Never above the generation ceiling over a whole window.
    expect(guide.rollouts).toBeLessThanOrEqual((12.44 / 0.97) * 360);
    const oneProof = simulateWindows({ tp: 4, proofGpus: 1, groupsPerBatch: 72 }, rates);
    expect(oneProof.bottleneck).toBe("proofs");
    expect(oneProof.rollouts).toBeLessThan(guide.rollouts);
    // Without enough proof capacity the window cannot beat ~5 r/s × 360 s.
    expect(oneProof.rollouts).toBeLessThanOrEqual(5 * 360);
  });

  it("ranks layouts of 8 GPUs with a multi-group batch on top", () => {
    const ranked = rankLayouts(8, rates);
    expect(ranked[0]!.prediction.rollouts).toBeGreaterThanOrEqual(
      ranked[ranked.length - 1]!.prediction.rollouts,
    );
    expect(ranked[0]!.layout.groupsPerBatch).toBeGreaterThan(1);
    expect(ranked.every((r) => r.layout.tp + r.layout.proofGpus === 8)).toBe(true);
  });
});
