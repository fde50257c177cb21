// Reward throughput: how many completions per second each environment scores on this machine.
// Run: npx tsx packages/environments/bench/reward-throughput.ts [--workers N] [--groups G] [--python PATH]
// A window (~6 min) at thousands of rollouts needs tens of rewards per second; code environments
// are the expensive ones, since every completion runs its tests in the sandbox pool.
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import {
  bundledDatasetStore,
  CodeSandbox,
  createEnvironment,
  fallbackJudge,
  MathOracle,
  type Problem,
  parseGsm8kGold,
  type SymbolicJudge,
  type TaskEnvironment,
} from "../src/index.js";

const { values } = parseArgs({
  options: { workers: { type: "string" }, groups: { type: "string" }, python: { type: "string" } },
});
const python = values.python ?? "python3";
const workers = Number(values.workers ?? availableParallelism());
const groups = Number(values.groups ?? 40);
const ROLLOUTS = 16;
const E = "<|im_end|>";
const think = "<start_working_out>Let me reason about the problem step by step.</end_working_out>\n";

/** A plausible spread of completions for one problem: right, wrong, broken, slow. */
function completions(p: Problem, i: number): string {
  const kind = i % 8;
  if (p.env === "mbpp" || p.env === "humaneval") {
    const good = p.env === "mbpp" ? p.referenceSolution : p.question + p.referenceSolution;
    if (kind < 4) return `${think}<SOLUTION>\n${good}\n</SOLUTION>${E}`;
    if (kind === 4) return `${think}<SOLUTION>\ndef broken(:\n</SOLUTION>${E}`;
    if (kind === 5) return `${think}<SOLUTION>\nimport os\n${good}\n</SOLUTION>${E}`;
    if (kind === 6) return `${think}<SOLUTION>\n${good.replace(/return /, "return 1 + ")}\n</SOLUTION>${E}`;
    return `${think}no tags at all${E}`;
  }
  const gold = p.env === "gsm8k" ? parseGsm8kGold(p.answer) : p.answer;
  if (kind < 4) return `${think}<SOLUTION>${gold}</SOLUTION>${E}`;
  if (kind < 6) return `${think}<SOLUTION>${gold}1</SOLUTION>\nthat is all${E}`;
  return `${think}I am not sure.${E}`;
}

async function measure(label: string, env: TaskEnvironment): Promise<void> {
  const n = await env.size();
  const problems = await Promise.all(Array.from({ length: groups }, (_, g) => env.problemFromSeed(g % n)));
  // Warm-up group (first-use costs: sandbox imports, sympy caches).
  await Promise.all(
    Array.from({ length: ROLLOUTS }, (_, i) =>
      env.score(problems[0] as Problem, completions(problems[0] as Problem, i), "instructed"),
    ),
  );
  const t0 = performance.now();
  let scored = 0;
  for (const p of problems) {
    // A group's 16 rollouts are scored concurrently, as the miner does.
    await Promise.all(
      Array.from({ length: ROLLOUTS }, async (_, i) => {
        await env.score(p, completions(p, i), "instructed");
        scored++;
      }),
    );
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${label.padEnd(34)} ${String(scored).padStart(6)} rewards in ${s.toFixed(2)} s = ${(scored / s).toFixed(1)} rewards/s`,
  );
}

const datasets = bundledDatasetStore();
const sandbox = new CodeSandbox({ workers, python });
const iso = await sandbox.start();
console.log(
  `sandbox: ${workers} workers, python ${iso.python}, seccomp=${iso.seccomp}, network=${iso.network}, cores=${availableParallelism()}`,
);
let judge: SymbolicJudge = fallbackJudge;
let oracle: MathOracle | null = null;
if (MathOracle.available(python)) {
  oracle = new MathOracle({ python });
  await oracle.start();
  judge = oracle;
}
try {
  await measure("mbpp (sandbox pool)", createEnvironment("mbpp", { split: "train" }, { datasets, sandbox }));
  await measure("humaneval (sandbox pool)", createEnvironment("humaneval", {}, { datasets, sandbox }));
  await measure("gsm8k", createEnvironment("gsm8k", { split: "train" }, { datasets }));
  await measure(
    `math (${oracle ? "sympy oracle" : "TS fallback"})`,
    createEnvironment("math", { split: "train" }, { datasets, mathJudge: judge }),
  );
  await measure(
    "math (TS fallback)",
    createEnvironment("math", { split: "train" }, { datasets, mathJudge: fallbackJudge }),
  );
} finally {
  await sandbox.close();
  await oracle?.close();
}
