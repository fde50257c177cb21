import { UNIQUE_ROLLOUTS_CAP, WINDOW_LENGTH } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import {
  batchSeconds,
  LayoutError,
  layoutGpus,
  referenceA100Rates,
  type StageRates,
  searchLayouts,
  simulateWindows,
  summariseBox,
} from "../src/index.js";

/** The guide's A100 generation rates with the native engine's measured proof rate (docs/performance.md). */
function nativeRates(contention?: number): StageRates {
  return {
    ...referenceA100Rates(),
    proofRolloutsPerSecondPerGpu: 96.4,
    colocatedProofContention: contention,
  };
}

describe("layout simulation: data-parallel generation", () => {
  const rates = nativeRates();

  it("gives each replica its share of the batch, as an independent server", () => {
    expect(batchSeconds(rates.generation, 4, 144, 2)).toBe(batchSeconds(rates.generation, 4, 72));
    expect(batchSeconds(rates.generation, 1, 128, 8)).toBe(batchSeconds(rates.generation, 1, 16));
  });

  it("doubles a window's rollouts with a second replica of the same batch share", () => {
    // Packaging and uploads are serial on the coordinator and grow with the rollouts: left out here.
    const free = { ...rates, packagingSecondsPerRollout: 0, uploadSecondsPerRollout: 0 };
    const one = simulateWindows({ tp: 4, proofGpus: 1, groupsPerBatch: 72 }, free);
    const two = simulateWindows({ tp: 4, dp: 2, proofGpus: 2, groupsPerBatch: 144 }, free);
    expect(one.bottleneck).toBe("generation");
    expect(two.batches).toBe(one.batches);
    expect(two.rollouts).toBe(2 * one.rollouts);
  });

  it("keeps the documented single-server prediction (TP=4 + 4 proof GPUs, GROUPS_PER_BATCH=128)", () => {
    expect(simulateWindows({ tp: 4, proofGpus: 4, groupsPerBatch: 128 }, rates).rollouts).toBe(3840);
  });
});

describe("layout simulation: proofs beside generation", () => {
  it("refuses a co-located layout without a contention factor, naming the setting", () => {
    const layout = { tp: 4, proofGpus: 0, colocatedProofs: 1, groupsPerBatch: 72 };
    expect(() => simulateWindows(layout, nativeRates())).toThrow(LayoutError);
    expect(() => simulateWindows(layout, nativeRates())).toThrow(/colocatedProofContention/);
    expect(() => simulateWindows(layout, nativeRates(0.5))).toThrow(/at least 1/);
    expect(() => simulateWindows({ ...layout, colocatedProofs: 5 }, nativeRates(1))).toThrow(
      /at most one proof worker per generation GPU \(4\)/,
    );
    expect(() => simulateWindows({ ...layout, colocatedProofs: 0 }, nativeRates(1))).toThrow(
      /no proof worker/,
    );
  });

  it("divides the proof rate by the factor and takes the proof GPU-seconds × factor from generation", () => {
    const end = WINDOW_LENGTH * nativeRates().blockSeconds;
    for (const f of [1, 2, 4]) {
      const rates = nativeRates(f);
      // One group a batch: every batch but the first generates while the previous group proves.
      const p = simulateWindows({ tp: 4, proofGpus: 0, colocatedProofs: 1, groupsPerBatch: 1 }, rates);
      expect(p.provedRollouts).toBe(16 * p.batches);
      const groupProof = 16 / rates.proofRolloutsPerSecondPerGpu; // uncontended seconds
      // The worker proves at rate / f.
      expect(p.proofBusy * end).toBeCloseTo(p.batches * f * groupProof, 6);
      // Generation gets none of the GPU while it does.
      const unslowed = p.batches * batchSeconds(rates.generation, 4, 1);
      const took = unslowed + (p.batches - 1) * f * groupProof;
      expect(p.generationBusy * end).toBeCloseTo(took, 6);
      expect(p.generationSpeed).toBeCloseTo(unslowed / took, 9);
    }
  });

  it("costs generation more the larger the factor, and nothing without co-located proofs", () => {
    const layout = { tp: 4, dp: 2, proofGpus: 0, colocatedProofs: 2, groupsPerBatch: 144 };
    const mild = simulateWindows(layout, nativeRates(1));
    const harsh = simulateWindows(layout, nativeRates(8));
    expect(harsh.generationSpeed).toBeLessThan(mild.generationSpeed);
    expect(harsh.rollouts).toBeLessThanOrEqual(mild.rollouts);
    const dedicated = simulateWindows({ tp: 4, dp: 2, proofGpus: 1, groupsPerBatch: 144 }, nativeRates(8));
    expect(dedicated.generationSpeed).toBe(1);
  });

  it("turns proof-bound when slow proofs share the GPUs", () => {
    const slow = { ...nativeRates(2), proofRolloutsPerSecondPerGpu: 5 };
    const p = simulateWindows({ tp: 4, proofGpus: 0, colocatedProofs: 1, groupsPerBatch: 72 }, slow);
    expect(p.bottleneck).toBe("proofs");
    expect(p.rollouts).toBeGreaterThan(0);
    expect(p.rollouts).toBeLessThanOrEqual((5 / 2) * 360);
  });
});

describe("layout search", () => {
  const rates = nativeRates(2);

  it("searches TP × DP × proof placement within the box, best first", () => {
    const ranked = searchLayouts(4, rates, { groupsPerBatch: [72, 144] });
    expect(ranked.length).toBeGreaterThan(0);
    expect(ranked.every((r) => r.gpus === layoutGpus(r.layout) && r.gpus <= 4)).toBe(true);
    for (let i = 1; i < ranked.length; i++) {
      expect(ranked[i]!.prediction.rollouts).toBeLessThanOrEqual(ranked[i - 1]!.prediction.rollouts);
    }
    const kinds = new Set(
      ranked.map((r) => `${(r.layout.dp ?? 1) > 1 ? "dp" : "tp"}-${r.layout.colocatedProofs ? "co" : "ded"}`),
    );
    expect(kinds).toEqual(new Set(["tp-ded", "tp-co", "dp-ded", "dp-co"]));
    // Every layout proves somewhere.
    expect(ranked.every((r) => r.layout.proofGpus + (r.layout.colocatedProofs ?? 0) >= 1)).toBe(true);
  });

  it("leaves co-located layouts out when no contention factor is given", () => {
    const ranked = searchLayouts(4, nativeRates(), { groupsPerBatch: [72] });
    expect(ranked.some((r) => (r.layout.colocatedProofs ?? 0) > 0)).toBe(false);
  });

  it("names the best layout of a box and the fewest GPUs that reach the cap", () => {
    const ranked = searchLayouts(8, rates, { groupsPerBatch: [72, 128, 256] });
    const box = summariseBox(8, ranked);
    expect(box.best).toBe(ranked[0]);
    expect(box.cap).toBe(UNIQUE_ROLLOUTS_CAP);
    const atCap = box.smallestAtCap!;
    expect(atCap.prediction.rollouts).toBeGreaterThanOrEqual(UNIQUE_ROLLOUTS_CAP);
    // No layout on fewer GPUs reaches the cap, and none on as few does better.
    for (const r of ranked) {
      if (r.prediction.rollouts < UNIQUE_ROLLOUTS_CAP) continue;
      expect(r.gpus).toBeGreaterThanOrEqual(atCap.gpus);
      if (r.gpus === atCap.gpus) expect(r.prediction.rollouts).toBeLessThanOrEqual(atCap.prediction.rollouts);
    }
    // A single A100-rate server cannot reach the cap on 2 GPUs.
    expect(summariseBox(2, searchLayouts(2, rates, { groupsPerBatch: [72] })).smallestAtCap).toBeNull();
  });
});
