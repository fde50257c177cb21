// GPU-machine checks of the proof pool (bundled to one file by scripts/workers/pack-device.sh,
// since that machine has no node_modules). Commands:
//   torch-vs-native --model DIR --batch FILE [--gpu G] [--out FILE]
//       the same batch through the pool once with the native worker and once with the torch worker
//       (the reference stack), rollout by rollout against the validator's bounds
//   scaling --model DIR [--gpus 0,1] [--groups N] [--out FILE]
//       pool throughput with one worker and with one worker per listed GPU, on the same groups;
//       reports where each worker ran (CUDA_VISIBLE_DEVICES, nvidia-smi) and the speed-up
// Common: --backend cuda|cpu (default cuda), --model-name NAME.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { createLogger } from "../../packages/log/src/index.js";
import {
  type EngineKind,
  type HotkeySigner,
  type ProofGroup,
  ProofPool,
  type ProofPoolOptions,
  type ProvedGroup,
} from "../../packages/pipeline/src/pool/index.js";
import {
  type DebugBatch,
  readBatchFile,
  syntheticBatch,
} from "../../packages/proof-worker/src/batch-file.js";
import {
  compareRollout,
  type RolloutComparison,
  samplePositions,
} from "../../packages/proof-worker/src/compare.js";

// Bundled into apps/worker/.device-bundle beside the bundled CLI, which serves as the worker too.
const bundleDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(bundleDir, "../../.."); // repo-paths: ok (the bundle is two levels deeper)
const entryPoints = {
  main: join(bundleDir, "main.mjs"),
  thread: join(bundleDir, "thread.mjs"),
  torch: join(repoRoot, "packages", "proof-worker", "python", "torch_worker.py"),
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string" },
    "model-name": { type: "string" },
    batch: { type: "string" },
    gpu: { type: "string" },
    gpus: { type: "string" },
    groups: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    "prompt-len": { type: "string" },
    "completion-len": { type: "string" },
  },
});
const command = positionals[0];
const modelDir = resolve(values.model ?? "");
const modelName = values["model-name"] ?? "grail/gpu-check";
const backend = (values.backend ?? "cuda") as "cpu" | "cuda";
const logger = createLogger({ verbosity: 1, stream: process.stderr });

async function signer(): Promise<HotkeySigner> {
  await cryptoWaitReady();
  const pair = new Keyring({ type: "sr25519" }).addFromUri("//Alice");
  return { ss58: pair.address, publicKey: pair.publicKey, sign: (m) => pair.sign(m) };
}

function vocabOf(dir: string): number {
  return (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { vocab_size: number }).vocab_size;
}

function groupsOf(batch: DebugBatch, prefix: string): ProofGroup[] {
  const out: ProofGroup[] = [];
  for (let i = 0; i < batch.rollouts.length; i += batch.groupSize) {
    out.push({ groupId: `${prefix}${out.length}`, rollouts: batch.rollouts.slice(i, i + batch.groupSize) });
  }
  return out;
}

async function startPool(gpus: number[], engine: EngineKind): Promise<ProofPool> {
  const options: ProofPoolOptions = {
    gpus,
    topology: "subprocess",
    fallbackToInProcess: false,
    engine,
    backend,
    model: { modelDir, checkpointWindow: 0 },
    signer: await signer(),
    entryPoints,
    logger,
    // First CUDA use and a 1.5B-7B load can take a while; a proof batch is seconds at most.
    startupTimeoutMs: 900_000,
    helloTimeoutMs: 300_000,
  };
  return ProofPool.start(options);
}

interface Timed {
  groups: ProvedGroup[];
  seconds: number;
  rollouts: number;
  tokens: number;
}

async function proveAll(pool: ProofPool, groups: ProofGroup[], randomnessHex: string): Promise<Timed> {
  const t0 = performance.now();
  const results = await pool.proveGroups(groups, { randomnessHex, modelName, checkpointWindow: 0 });
  const seconds = (performance.now() - t0) / 1000;
  const proved = results.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
  let tokens = 0;
  for (const g of groups) for (const r of g.rollouts) tokens += r.tokens.length;
  return { groups: proved, seconds, rollouts: groups.reduce((a, g) => a + g.rollouts.length, 0), tokens };
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

async function torchVsNative(): Promise<object> {
  if (!values.batch) throw new Error("--batch FILE is required (scripts/workers/make_batch.py writes one)");
  const batch = readBatchFile(values.batch, vocabOf(modelDir), modelName);
  const groups = groupsOf(batch, "g");
  const gpu = Number(values.gpu ?? "0");
  const runs: Record<string, Timed> = {};
  for (const engine of ["native", "torch"] as const) {
    const pool = await startPool([gpu], engine);
    await proveAll(pool, groups.slice(0, 1), batch.randomnessHex); // warm-up (allocations, kernels)
    runs[engine] = await proveAll(pool, groups, batch.randomnessHex);
    await pool.shutdown();
  }
  let seed = 7;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const comparisons: RolloutComparison[] = [];
  const dists: number[] = [];
  groups.forEach((g, gi) => {
    g.rollouts.forEach((r, i) => {
      const nat = runs.native!.groups[gi]!.rollouts[i]!;
      const ref = runs.torch!.groups[gi]!.rollouts[i]!;
      const sampled = samplePositions(r.promptLen, r.tokens.length, 32, rand);
      comparisons.push(compareRollout(comparisons.length, r.promptLen, nat, ref, sampled));
      for (let p = 0; p < nat.sVals.length; p++) {
        const d = Math.abs(nat.sVals[p]! - ref.sVals[p]!);
        dists.push(Math.min(d, 2147483647 - d));
      }
    });
  });
  const report = {
    command: "torch-vs-native",
    modelDir,
    gpu,
    rollouts: comparisons.length,
    positions: dists.length,
    sketch: {
      max: Math.max(...dists),
      p999: percentile(dists, 0.999),
      mean: dists.reduce((a, b) => a + b, 0) / dists.length,
      identical: dists.filter((d) => d === 0).length / dists.length,
      overTolerance: comparisons.reduce((a, c) => a + c.overTolerance.length, 0),
    },
    logprob: {
      medianOfMedianDev: percentile(
        comparisons.map((c) => c.logprobMedianDev),
        0.5,
      ),
      rolloutsFailing: comparisons.filter((c) => !c.pass).length,
      maxAbs: Math.max(...comparisons.map((c) => c.logprobMaxAbs)),
    },
    eosProbMaxDelta: Math.max(...comparisons.map((c) => c.eosProbDelta)),
    speed: Object.fromEntries(
      Object.entries(runs).map(([k, v]) => [
        k,
        { rolloutsPerSecond: v.rollouts / v.seconds, seconds: v.seconds },
      ]),
    ),
    ok: comparisons.every((c) => c.overTolerance.length === 0),
  };
  return report;
}

/** pid → GPU uuid of every process nvidia-smi lists (empty without nvidia-smi). */
function gpuOfPids(): Map<number, string> {
  try {
    const out = execFileSync("nvidia-smi", ["--query-compute-apps=pid,gpu_uuid", "--format=csv,noheader"], {
      encoding: "utf8",
    });
    return new Map(
      out
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const [pid, uuid] = l.split(",").map((s) => s.trim());
          return [Number(pid), uuid!];
        }),
    );
  } catch {
    return new Map();
  }
}

function envOf(pid: number): string | null {
  try {
    const kv = readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .find((s) => s.startsWith("CUDA_VISIBLE_DEVICES="));
    return kv ? kv.slice("CUDA_VISIBLE_DEVICES=".length) : null;
  } catch {
    return null;
  }
}

async function scaling(): Promise<object> {
  const gpus = (values.gpus ?? "0,1").split(",").map(Number);
  const count = Number(values.groups ?? "96");
  // Spec speed shape: prompts of 200 tokens, completions of 100-700 (about 600 tokens per rollout).
  const batch = syntheticBatch({
    rollouts: count * 16,
    promptLen: Number(values["prompt-len"] ?? "200"),
    completionLen: Number(values["completion-len"] ?? "700"),
    vocabSize: vocabOf(modelDir),
    seed: 3,
    modelName,
  });
  const groups = groupsOf(batch, "s");
  const runs: {
    gpus: number[];
    rolloutsPerSecond: number;
    tokensPerSecond: number;
    seconds: number;
    workers: object[];
  }[] = [];
  for (const set of [gpus.slice(0, 1), gpus]) {
    const pool = await startPool(set, "native");
    const placement = gpuOfPids();
    const workers = pool.stats().workers.map((w) => ({
      gpu: w.gpu,
      pid: w.pid,
      cudaVisibleDevices: w.pid ? envOf(w.pid) : null,
      nvidiaSmiGpu: w.pid ? (placement.get(w.pid) ?? null) : null,
    }));
    await proveAll(pool, groups.slice(0, set.length * 2), batch.randomnessHex); // warm-up
    const t = await proveAll(pool, groups, batch.randomnessHex);
    const perGpu = pool.stats().workers.map((w) => ({ gpu: w.gpu, jobsDone: w.jobsDone }));
    await pool.shutdown();
    runs.push({
      gpus: set,
      rolloutsPerSecond: t.rollouts / t.seconds,
      tokensPerSecond: t.tokens / t.seconds,
      seconds: t.seconds,
      workers: workers.map((w, i) => ({ ...w, ...perGpu[i] })),
    });
    logger.notice("scaling run", {
      gpus: set.join(","),
      rolloutsPerSecond: (t.rollouts / t.seconds).toFixed(1),
    });
  }
  const speedup = runs[1]!.rolloutsPerSecond / runs[0]!.rolloutsPerSecond;
  return {
    command: "scaling",
    modelDir,
    groups: count,
    rollouts: count * 16,
    avgTokensPerRollout: batch.rollouts.reduce((a, r) => a + r.tokens.length, 0) / batch.rollouts.length,
    runs,
    speedup,
    target: 1.9,
    ok: gpus.length < 2 || speedup >= 1.9,
  };
}

const report =
  command === "torch-vs-native" ? await torchVsNative() : command === "scaling" ? await scaling() : null;
if (!report) {
  process.stderr.write("usage: gpu-check.mjs torch-vs-native|scaling --model DIR [options]\n");
  process.exit(2);
}
const text = JSON.stringify(report, null, 2);
process.stdout.write(`${text}\n`);
if (values.out) writeFileSync(values.out, `${text}\n`);
await logger.close();
process.exit((report as { ok: boolean }).ok ? 0 : 1);
