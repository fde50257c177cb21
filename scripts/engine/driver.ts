// Node driver of the proof engine for GPU-machine scripts (bundled to one file there, since that
// machine has no node_modules). Commands:
//   prove <request.json> <out.json>      request {modelDir, backend, randomness, rollouts:[{tokens, promptLen}]}
//   check-goldens <fixturesDir> <backend> [report.json]
//                                        every <family>/ with goldens.json: engine vs HF goldens, and for the
//                                        cuda backend also cuda vs cpu; exits 1 on a position over tolerance
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AccuracyReport,
  availableBackends,
  type Backend,
  compareProofs,
  loadModel,
  type RolloutInput,
  type RolloutProof,
} from "../../packages/engine-native/src/index.js";

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

const [cmd, a, b, c] = process.argv.slice(2);
if (cmd === "prove" && a && b) await prove(a, b);
else if (cmd === "check-goldens" && a && (b === "cpu" || b === "cuda")) await checkGoldens(a, b, c);
else {
  console.error(
    "usage: driver prove <request.json> <out.json> | check-goldens <fixturesDir> <cpu|cuda> [report.json]",
  );
  process.exit(2);
}
