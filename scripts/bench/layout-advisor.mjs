#!/usr/bin/env node
// Layout advisor (`pnpm bench:layout`): predicts rollouts per window for a GPU layout and
// GROUPS_PER_BATCH with the engine's own scheduling rules (packages/pipeline layout-sim), and
// ranks every layout of N GPUs.
//
//   node scripts/bench/layout-advisor.mjs [--preset a100-7b|cpu-e2e] [--rates rates.json]
//        [--gpus 8] [--tp 4 --proof-gpus 4 --gpb 72] [--top 8]
//
// --rates takes a JSON object overriding any StageRates field (nested `generation` too), e.g.
// measured figures: {"proofRolloutsPerSecondPerGpu": 9.5, "generation": {"peakRolloutsPerSecondTp1": 5}}.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { batchSeconds, generationRate, rankLayouts, referenceA100Rates, simulateWindows } = await import(
  path.join(root, "packages", "pipeline", "dist", "index.js")
);

const { values: args } = parseArgs({
  options: {
    preset: { type: "string", default: "a100-7b" },
    rates: { type: "string" },
    gpus: { type: "string", default: "8" },
    tp: { type: "string" },
    "proof-gpus": { type: "string" },
    gpb: { type: "string" },
    top: { type: "string", default: "8" },
  },
});

/**
 * The end-to-end test's machine: 2 CPU cores running the native generation server (a 2-layer,
 * hidden-32 model with the Qwen3 vocabulary, 32-token completions), two CPU proof workers,
 * chopsticks and the coordinator. Figures from its logs: 200–350 completion tokens/s whatever the
 * batch size (~7.8 rollouts/s; CPU-bound, so batching barely helps), a group proves in ~2.5 s per
 * worker under that contention, 0.53–0.65 s blocks, a checkpoint switch of ~0.4 s, uploads of
 * 0.15–0.5 s. The same run mined 80, 112 and 160 rollouts in its three windows.
 */
function cpuE2eRates() {
  return {
    generation: {
      peakRolloutsPerSecondTp1: 7.8,
      tpEfficiency: { 1: 1 },
      halfSaturationSequences: 1,
      maxSequencesPerGpu: 4096,
      tailFraction: 0,
    },
    proofRolloutsPerSecondPerGpu: 6.4,
    rewardSecondsPerGroup: 0.01,
    rewardCores: 1,
    packagingSecondsPerRollout: 0.002,
    uploadSecondsPerRollout: 0.002,
    uploadFixedSeconds: 0.15,
    checkpointSwitchSeconds: 0.4,
    blockSeconds: 0.62,
    safetyBlocks: 3,
    deadlineSlackSeconds: 1,
  };
}

const presets = { "a100-7b": referenceA100Rates, "cpu-e2e": cpuE2eRates };
const base = presets[args.preset];
if (!base) {
  console.error(`unknown preset ${args.preset}; use ${Object.keys(presets).join(" or ")}`);
  process.exit(2);
}
const rates = base();
if (args.rates) {
  const extra = JSON.parse(await readFile(args.rates, "utf8"));
  Object.assign(rates, { ...extra, generation: { ...rates.generation, ...(extra.generation ?? {}) } });
}

const fmt = (p) =>
  `${String(p.rollouts).padStart(6)} rollouts/window  ${p.batches} batches, ${p.lateGroups} late groups, ` +
  `generation busy ${(p.generationBusy * 100).toFixed(0)}%, proof GPUs busy ${(p.proofBusy * 100).toFixed(0)}%, ` +
  `bottleneck ${p.bottleneck}, ${p.steadyRolloutsPerSecond.toFixed(2)} r/s while mining`;

console.log(
  `preset ${args.preset}: block ${rates.blockSeconds} s, proof ${rates.proofRolloutsPerSecondPerGpu} r/s per GPU`,
);
for (const tp of [1, 2, 4, 8]) {
  const n = 72 * 16;
  console.log(
    `  generation TP=${tp}: ${generationRate(rates.generation, tp, n).toFixed(2)} r/s at ${n} in flight, ` +
      `${generationRate(rates.generation, tp, 16).toFixed(2)} r/s at 16; a 72-group batch takes ${batchSeconds(rates.generation, tp, 72).toFixed(0)} s`,
  );
}
if (args.tp || args["proof-gpus"] || args.gpb) {
  const layout = {
    tp: Number(args.tp ?? 4),
    proofGpus: Number(args["proof-gpus"] ?? 4),
    groupsPerBatch: Number(args.gpb ?? 72),
  };
  console.log(
    `\nlayout TP=${layout.tp} + ${layout.proofGpus} proof GPUs, GROUPS_PER_BATCH=${layout.groupsPerBatch}:`,
  );
  console.log(`  ${fmt(simulateWindows(layout, rates))}`);
}
const gpus = Number(args.gpus);
console.log(`\nbest layouts for ${gpus} GPUs:`);
for (const r of rankLayouts(gpus, rates).slice(0, Number(args.top))) {
  console.log(
    `  TP=${r.layout.tp} + ${r.layout.proofGpus} proof, GPB=${String(r.layout.groupsPerBatch).padEnd(3)} ${fmt(r.prediction)}`,
  );
}
