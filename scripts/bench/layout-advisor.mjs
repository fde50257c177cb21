#!/usr/bin/env node
// Layout advisor (`pnpm bench:layout`): predicts rollouts per window for a GPU layout and
// GROUPS_PER_BATCH with the engine's own scheduling rules (packages/pipeline layout-sim), and
// ranks every layout of N GPUs.
//
//   node scripts/bench/layout-advisor.mjs [--preset a100-7b|native-7b|cpu-e2e] [--rates rates.json]
//        [--gpus 8] [--tp 4 --proof-gpus 4 --gpb 72] [--top 8]
//   node scripts/bench/layout-advisor.mjs --search [--boxes 2,4,8] [--preset native-7b] [--rates rates.json]
//        [--contention 1,2] [--model DIR] [--max-model-len 12288] [--gpu-memory-gib 80]
//
// --search searches TP × DP × proof placement (dedicated proof GPUs, proof workers beside generation)
// within boxes of 2, 4 and 8 GPUs and prints, per box, the best layout and the fewest GPUs that reach
// the subnet's cap of UNIQUE_ROLLOUTS_CAP rollouts per window, one table per contention factor, with
// the memory a co-located proof worker needs (proofMemoryNeed). Every figure it computes is a
// prediction; every rate it uses is printed with its source.
//
// --rates takes a JSON object overriding any StageRates field (nested `generation` too), e.g.
// measured figures: {"proofRolloutsPerSecondPerGpu": 9.5, "generation": {"peakRolloutsPerSecondTp1": 5}}.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pipeline = await import(path.join(root, "packages", "pipeline", "dist", "index.js"));
const { batchSeconds, generationRate, rankLayouts, referenceA100Rates, simulateWindows } = pipeline;

const { values: args } = parseArgs({
  options: {
    preset: { type: "string" },
    rates: { type: "string" },
    gpus: { type: "string", default: "8" },
    tp: { type: "string" },
    "proof-gpus": { type: "string" },
    gpb: { type: "string" },
    top: { type: "string", default: "8" },
    search: { type: "boolean", default: false },
    boxes: { type: "string", default: "2,4,8" },
    contention: { type: "string" },
    model: { type: "string" },
    "max-model-len": { type: "string" },
    "gpu-memory-gib": { type: "string", default: "80" },
  },
});

function usage(message) {
  console.error(`layout advisor: ${message}`);
  process.exit(2);
}

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

const GUIDE_GENERATION =
  "guide: SGLang on 8×A100 SXM4, Qwen2.5-7B, TP=4 at 12.44 rollouts/s with GROUPS_PER_BATCH=72 (97 % of " +
  "its ceiling); TP=1/2/8 by assumed efficiencies 1/0.9/0.65; DP replicas as independent servers (referenceA100Rates)";
const presets = {
  "a100-7b": {
    rates: referenceA100Rates,
    sources: {
      generation: GUIDE_GENERATION,
      proofs: "guide: ~5 rollouts/s per HF proof GPU (referenceA100Rates)",
    },
  },
  "native-7b": {
    rates: () => ({ ...referenceA100Rates(), proofRolloutsPerSecondPerGpu: 96.4 }),
    sources: {
      generation: GUIDE_GENERATION,
      proofs:
        "measured: the native engine through the proof pool, one worker on one H200, Qwen2.5-7B shape " +
        "(docs/performance.md, bench.ts scaling)",
    },
  },
  "cpu-e2e": {
    rates: cpuE2eRates,
    sources: { generation: "the end-to-end test's logs (2 CPU cores)", proofs: "the same logs" },
  },
};
const presetName = args.preset ?? (args.search ? "native-7b" : "a100-7b");
const preset = presets[presetName];
if (!preset) usage(`unknown preset ${presetName}; use ${Object.keys(presets).join(", ")}`);
const rates = preset.rates();
const sources = { ...preset.sources };
if (args.rates) {
  let extra;
  try {
    extra = JSON.parse(await readFile(args.rates, "utf8"));
  } catch (err) {
    usage(`--rates ${args.rates}: ${err.message}; give a JSON object of StageRates fields`);
  }
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) {
    usage(`--rates ${args.rates} must hold a JSON object of StageRates fields`);
  }
  Object.assign(rates, { ...extra, generation: { ...rates.generation, ...(extra.generation ?? {}) } });
  if (extra.generation) sources.generation = `given: ${args.rates}`;
  if (extra.proofRolloutsPerSecondPerGpu !== undefined) sources.proofs = `given: ${args.rates}`;
}
for (const [name, v] of [
  ["proofRolloutsPerSecondPerGpu", rates.proofRolloutsPerSecondPerGpu],
  ["generation.peakRolloutsPerSecondTp1", rates.generation.peakRolloutsPerSecondTp1],
  ["blockSeconds", rates.blockSeconds],
]) {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    usage(`${name} must be a positive number, got ${v}`);
}

const fmt = (p) =>
  `${String(p.rollouts).padStart(6)} rollouts/window  ${p.batches} batches, ${p.lateGroups} late groups, ` +
  `generation busy ${(p.generationBusy * 100).toFixed(0)}%, proof GPUs busy ${(p.proofBusy * 100).toFixed(0)}%, ` +
  `bottleneck ${p.bottleneck}, ${p.steadyRolloutsPerSecond.toFixed(2)} r/s while mining`;

if (args.search) {
  const { runSearch } = await import("./layout-search.mjs");
  await runSearch({ root, pipeline, rates, sources, args, usage });
  process.exit(0);
}

console.log(
  `preset ${presetName}: block ${rates.blockSeconds} s, proof ${rates.proofRolloutsPerSecondPerGpu} r/s per GPU`,
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
