// The CPU backend against goldens computed by HF transformers (bf16, SDPA, right-padded batches of 16,
// use_cache=False) on tiny random models with outlier channels and model-sampled completions
// (scripts/engine/make_goldens.py). Bounds are the measured figures with a small margin.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compareProofs, loadModel, type RolloutProof } from "../src/index.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

interface Golden {
  randomness: string;
  rollouts: { tokens: number[]; promptLen: number; sVals: number[]; logprobs: number[]; eosProb: number }[];
}

const BOUNDS = {
  // measured: max 752, mean 3.9, median 7.1e-5, eos 2.3e-2
  qwen2: { sketchMax: 800, sketchMean: 4.5, medianLpDev: 8e-5, eosRel: 0.026 },
  // measured: max 884, mean 9.8, median 2.9e-4, eos 8.0e-3
  qwen3: { sketchMax: 950, sketchMean: 11, medianLpDev: 3.3e-4, eosRel: 0.009 },
  // measured: max 972, mean 6.4, median 7.9e-5, eos 4.0e-3
  llama: { sketchMax: 1050, sketchMean: 7, medianLpDev: 9e-5, eosRel: 0.0045 },
};

describe.each(Object.keys(BOUNDS) as (keyof typeof BOUNDS)[])("CPU backend vs HF goldens, %s", (family) => {
  it("stays inside the sketch tolerance everywhere with small logprob deviations", async () => {
    const dir = join(fixtures, family);
    const golden = JSON.parse(readFileSync(join(dir, "goldens.json"), "utf8")) as Golden;
    const model = await loadModel(dir, { backend: "cpu" });
    const inputs = golden.rollouts.map((r) => ({ tokens: r.tokens, promptLen: r.promptLen }));
    const proofs: RolloutProof[] = [];
    for (let i = 0; i < inputs.length; i += 16) {
      proofs.push(...(await model.prove(inputs.slice(i, i + 16), golden.randomness)));
    }
    model.close();
    const r = compareProofs(inputs, golden.rollouts, proofs);
    const eosRel = Math.max(
      ...proofs.map(
        (p, i) => Math.abs(p.eosProb - golden.rollouts[i]!.eosProb) / golden.rollouts[i]!.eosProb,
      ),
    );
    console.log(
      `${family}: ${r.positions} positions, sketch max ${r.sketchMax} p99.9 ${r.sketchP999} mean ${r.sketchMean.toFixed(1)}, ` +
        `identical ${(100 * r.identicalFraction).toFixed(1)}%, median exp(|dlp|)-1 ${r.medianLogprobDev.toExponential(2)}, ` +
        `lp-test fails ${r.rolloutsFailingLogprob}/${r.rollouts}, max rel eosProb dev ${eosRel.toExponential(2)}`,
    );
    const b = BOUNDS[family];
    expect(r.overTolerance).toBe(0);
    expect(r.rolloutsFailingLogprob).toBe(0);
    expect(r.sketchMax).toBeLessThanOrEqual(b.sketchMax);
    expect(r.sketchMean).toBeLessThanOrEqual(b.sketchMean);
    expect(r.medianLogprobDev).toBeLessThanOrEqual(b.medianLpDev);
    expect(eosRel).toBeLessThanOrEqual(b.eosRel);
  });
});
