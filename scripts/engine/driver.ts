// Node driver of the proof engine for GPU-machine scripts (bundled to one file there, since that
// machine has no node_modules). Commands:
//   prove <request.json> <out.json>      request {modelDir, backend, randomness, rollouts:[{tokens, promptLen}]}
//   check-goldens <fixturesDir> <backend> [report.json]
//                                        every <family>/ with goldens.json: engine vs HF goldens, and for the
//                                        cuda backend also cuda vs cpu; exits 1 on a position over tolerance
//   check-reload <backend> <workDir>     reload() in place: two random-init checkpoints of one architecture
//                                        (Qwen2.5-style, 4 layers); A, reload B, reload A. Exits 1 unless the
//                                        weights are reused (no new allocation), the proofs after each reload
//                                        equal those of a freshly loaded model of that checkpoint bit for
//                                        bit, B's differ from A's, and another architecture is refused
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AccuracyReport,
  availableBackends,
  type Backend,
  compareProofs,
  EngineError,
  identicalProofs,
  loadModel,
  type RandomModelOptions,
  type RolloutInput,
  type RolloutProof,
  writeRandomModel,
} from "../../packages/engine-native/src/index.js";
import { tokenSeq } from "../../packages/engine-native/src/testing/index.js";

interface Golden {
  randomness: string;
  rollouts: { tokens: number[]; promptLen: number; sVals: number[]; logprobs: number[]; eosProb: number }[];
}

async function proveAll(
  modelDir: string,
  backend: Backend,
  rollouts: RolloutInput[],
  randomness: string,
): Promise<{ proofs: RolloutProof[]; seconds: number }> {
  const model = await loadModel(modelDir, { backend });
  const proofs: RolloutProof[] = [];
  const t0 = performance.now();
  for (let i = 0; i < rollouts.length; i += 16) {
    proofs.push(...(await model.prove(rollouts.slice(i, i + 16), randomness)));
  }
  const seconds = (performance.now() - t0) / 1000;
  model.close();
  return { proofs, seconds };
}

function row(name: string, r: AccuracyReport): string {
  return (
    `${name.padEnd(28)} positions ${String(r.positions).padStart(6)}  sketch max ${String(r.sketchMax).padStart(5)}` +
    `  p99.9 ${String(r.sketchP999).padStart(5)}  mean ${r.sketchMean.toFixed(1).padStart(6)}` +
    `  identical ${(100 * r.identicalFraction).toFixed(1).padStart(5)}%  over tol ${r.overTolerance}` +
    `  median exp|dlp|-1 ${r.medianLogprobDev.toFixed(4)}  lp-test fails ${r.rolloutsFailingLogprob}/${r.rollouts}`
  );
}

async function prove(reqPath: string, outPath: string): Promise<void> {
  const req = JSON.parse(readFileSync(reqPath, "utf8")) as {
    modelDir: string;
    backend: Backend;
    randomness: string;
    rollouts: RolloutInput[];
  };
  const { proofs, seconds } = await proveAll(req.modelDir, req.backend, req.rollouts, req.randomness);
  const tokens = req.rollouts.reduce((a, r) => a + r.tokens.length, 0);
  console.log(
    `proved ${proofs.length} rollouts (${tokens} tokens) on ${req.backend} in ${seconds.toFixed(2)} s`,
  );
  writeFileSync(
    outPath,
    JSON.stringify({
      seconds,
      rollouts: proofs.map((p) => ({
        sVals: Array.from(p.sVals),
        logprobs: Array.from(p.logprobs),
        eosProb: p.eosProb,
      })),
    }),
  );
}

async function checkGoldens(dir: string, backend: Backend, reportPath?: string): Promise<void> {
  console.log(JSON.stringify(availableBackends()));
  let bad = 0;
  const reports: Record<string, unknown> = {};
  for (const family of readdirSync(dir).sort()) {
    const goldenPath = join(dir, family, "goldens.json");
    if (!existsSync(goldenPath)) continue;
    const g = JSON.parse(readFileSync(goldenPath, "utf8")) as Golden;
    const inputs = g.rollouts.map((r) => ({ tokens: r.tokens, promptLen: r.promptLen }));
    const { proofs, seconds } = await proveAll(join(dir, family), backend, inputs, g.randomness);
    const vsHf = compareProofs(inputs, g.rollouts, proofs);
    console.log(row(`${family} ${backend} vs HF`, vsHf), ` (${seconds.toFixed(3)} s)`);
    bad += vsHf.overTolerance;
    reports[`${family}/${backend}-vs-hf`] = vsHf;
    if (backend === "cuda") {
      const cpu = await proveAll(join(dir, family), "cpu", inputs, g.randomness);
      const vsCpu = compareProofs(inputs, cpu.proofs, proofs);
      console.log(row(`${family} cuda vs cpu`, vsCpu));
      reports[`${family}/cuda-vs-cpu`] = vsCpu;
      bad += vsCpu.overTolerance;
      const eosDiff = Math.max(...proofs.map((p, i) => Math.abs(p.eosProb - cpu.proofs[i]!.eosProb)));
      console.log(`${family} max |eosProb cuda - cpu| ${eosDiff.toExponential(2)}`);
    }
  }
  if (reportPath) writeFileSync(reportPath, JSON.stringify(reports, null, 2));
  if (bad > 0) {
    console.log(`FAIL: ${bad} positions over the sketch tolerance`);
    process.exit(1);
  }
  console.log("PASS: no position over the sketch tolerance");
}

async function checkReload(backend: Backend, work: string): Promise<void> {
  const shape: RandomModelOptions = {
    modelType: "qwen2",
    hiddenSize: 512,
    numLayers: 4,
    numAttentionHeads: 8,
    numKeyValueHeads: 2,
    intermediateSize: 1536,
    vocabSize: 4096,
    outliers: true,
  };
  rmSync(work, { recursive: true, force: true });
  const dirA = join(work, "a");
  const dirB = join(work, "b");
  const dirOther = join(work, "other");
  for (const d of [dirA, dirB, dirOther]) mkdirSync(d, { recursive: true });
  writeRandomModel(dirA, { ...shape, seed: 1 });
  writeRandomModel(dirB, { ...shape, seed: 2 });
  writeRandomModel(dirOther, { ...shape, seed: 3, numLayers: 5 });
  const batch: RolloutInput[] = Array.from({ length: 16 }, (_, i) => ({
    tokens: tokenSeq(40 + 37 * i, shape.vocabSize, i + 1),
    promptLen: 20,
  }));
  const randomness = "5eed".repeat(16);
  const fresh = async (dir: string) => {
    const m = await loadModel(dir, { backend });
    const p = await m.prove(batch, randomness);
    m.close();
    return p;
  };
  const freshA = await fresh(dirA);
  const freshB = await fresh(dirB);
  const model = await loadModel(dirA, { backend });
  const checks: [string, boolean][] = [];
  checks.push([
    "A proved by the long-lived model equals a fresh A",
    identicalProofs(await model.prove(batch, randomness), freshA),
  ]);
  const allocations = model.weightStats().weightAllocations;
  const t0 = performance.now();
  await model.reload(dirB);
  const reloadMs = performance.now() - t0;
  checks.push(["reload B reuses the weight buffers", model.weightStats().weightAllocations === allocations]);
  const afterB = await model.prove(batch, randomness);
  checks.push(["after reload B the proofs equal a fresh B", identicalProofs(afterB, freshB)]);
  checks.push(["B's proofs differ from A's", !identicalProofs(afterB, freshA)]);
  await model.reload(dirA);
  checks.push([
    "after reload A the proofs equal a fresh A again",
    identicalProofs(await model.prove(batch, randomness), freshA),
  ]);
  let refused = false;
  try {
    await model.reload(dirOther);
  } catch (err) {
    refused = err instanceof EngineError && err.code === "architecture_changed";
  }
  checks.push(["another architecture (5 layers) is refused with architecture_changed", refused]);
  checks.push([
    "the model still proves A after the refusal",
    identicalProofs(await model.prove(batch, randomness), freshA),
  ]);
  const mib = model.weightStats().weightBytes / 2 ** 20;
  model.close();
  console.log(`reload on ${backend}: ${reloadMs.toFixed(1)} ms for ${mib.toFixed(1)} MiB of weights`);
  for (const [what, ok] of checks) console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  rmSync(work, { recursive: true, force: true });
  if (checks.some(([, ok]) => !ok)) process.exit(1);
  console.log(`PASS: reload on ${backend}`);
}

const [cmd, a, b, c] = process.argv.slice(2);
if (cmd === "prove" && a && b) await prove(a, b);
else if (cmd === "check-goldens" && a && (b === "cpu" || b === "cuda")) await checkGoldens(a, b, c);
else if (cmd === "check-reload" && (a === "cpu" || a === "cuda") && b) await checkReload(a, b);
else {
  console.error(
    "usage: driver prove <request.json> <out.json> | check-goldens <fixturesDir> <cpu|cuda> [report.json] | check-reload <cpu|cuda> <workDir>",
  );
  process.exit(2);
}
