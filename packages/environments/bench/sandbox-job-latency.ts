// Latency of one sandbox job, one at a time on one worker: what every scored rollout pays on top of
// its own code. Run: npx tsx packages/environments/bench/sandbox-job-latency.ts [--jobs N] [--python PATH]
import { parseArgs } from "node:util";
import { CodeSandbox, MathOracle } from "../src/index.js";

const { values } = parseArgs({ options: { jobs: { type: "string" }, python: { type: "string" } } });
const jobs = Number(values.jobs ?? 200);
const python = values.python ?? "python3";

async function timeJobs(label: string, run: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 10; i++) await run(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < jobs; i++) await run();
  const ms = (performance.now() - t0) / jobs;
  console.log(`${label.padEnd(40)} ${ms.toFixed(2)} ms/job over ${jobs} jobs`);
}

const sandbox = new CodeSandbox({ workers: 1, python });
const iso = await sandbox.start();
console.log(`python ${iso.python}, seccomp=${iso.seccomp}, network=${iso.network}`);
try {
  const code = "def add(a, b):\n    return a + b";
  const tests = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2, 2) == 4"];
  await timeJobs("code: 3 passing asserts", () => sandbox.run(code, tests));
  await timeJobs("code: 3 failing asserts", () => sandbox.run("def add(a, b):\n    return 0", tests));
  await timeJobs("code: compile only", () => sandbox.compile(code));
} finally {
  await sandbox.close();
}
if (MathOracle.available(python)) {
  const oracle = new MathOracle({ python });
  await oracle.start();
  try {
    await timeJobs("math: x+1 vs 1+x (sympy)", () => oracle.judge("x+1", "1+x"));
  } finally {
    await oracle.close();
  }
}
