// The proof benchmark's Node side (issue engine-perf); see docs/performance.md. Bundled to one file
// for the GPU machine by pack-device.sh, run with tsx here:
//
//   bench.ts native --model DIR --workload FILE --out FILE [--shape NAME] [--backend cuda|cpu]
//                   [--hf-check FILE] [--worker FILE] [--warmup-groups N] [--direct 16,64] [--direct-groups N]
//       the native engine through the proof pool on workload.json (bench_hf.py writes both), then the
//       per-stage profile of one batch per case; writes the result JSON for `bench_hf.py report`
//   bench.ts native --tiny --out-dir DIR [--backend cpu]
//       the same path end to end on a tiny random model (workload and report by bench_hf.py): what a
//       machine without a GPU can run of the benchmark
//   bench.ts scaling --model DIR --workload FILE --out FILE [--shape NAME] [--backend cuda|cpu]
//                    [--workers 1,2,4,8] [--repeat 3] [--case standard] [--worker FILE]
//       the proof pool with 1, 2, … workers (one per GPU) on the same groups: rollouts/s, scaling,
//       coordinator CPU use and the proof ceiling per window; writes JSON and prints a markdown table
//   bench.ts colocation --model DIR --workload FILE --out FILE [--shape NAME] [--backend cuda|cpu]
//                       [--tokens 4096] [--prompt N] [--passes 3] [--gemm-size 8192] [--gemm-seconds 8]
//   bench.ts colocation --tiny --out-dir DIR [--backend cpu]
//       the engine's reported memory need for its largest batch next to the GPU's measured peak, and
//       proof throughput alone and beside a GEMM load on the same GPU (colocation.ts); writes JSON and
//       prints markdown. --tiny: a tiny model and numpy GEMMs, a dry run of the path without a GPU
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeRandomModel } from "../../../packages/engine-native/src/index.js";
import type { WorkerEntryPoints } from "../../../packages/proof-worker/src/entry-points.js";
import { GrailError } from "../../../packages/protocol/src/index.js";
import { runColocation } from "./colocation.js";
import { colocationMarkdown } from "./colocation-report.js";
import { runNative } from "./native-run.js";
import { runScaling, scalingMarkdown } from "./pool-scaling.js";
import { readWorkload } from "./workload.js";

const here = dirname(fileURLToPath(import.meta.url));
// Bundled, this file sits in scripts/bench/proof/.device-bundle next to the bundled worker.
const bundled = existsSync(join(here, "worker.mjs"));
const repoRoot = resolve(here, bundled ? "../../../.." : "../../.."); // repo-paths: ok (the bundle is a level deeper)
const pyBench = join(repoRoot, "scripts/bench/proof/bench_hf.py");

class UsageError extends GrailError {}

const USAGE =
  "usage: bench native --model DIR --workload FILE --out FILE [--shape NAME] [--backend cuda|cpu] " +
  "[--hf-check FILE] [--worker FILE] [--warmup-groups N] [--direct 16,64] [--direct-groups N]\n" +
  "       bench native --tiny --out-dir DIR [--backend cpu|cuda]\n" +
  "       bench scaling --model DIR --workload FILE --out FILE [--shape NAME] [--backend cuda|cpu] " +
  "[--workers 1,2,4,8] [--repeat 3] [--case standard] [--worker FILE]\n" +
  "       bench colocation --model DIR --workload FILE --out FILE [--shape NAME] [--backend cuda|cpu] " +
  "[--tokens 4096] [--prompt N] [--passes 3] [--gemm-size 8192] [--gemm-seconds 8]\n" +
  "       bench colocation --tiny --out-dir DIR [--backend cpu|cuda]";

function entryPoints(worker: string | undefined): WorkerEntryPoints {
  const main = worker
    ? resolve(worker)
    : bundled
      ? join(here, "worker.mjs")
      : join(repoRoot, "packages/proof-worker/dist/main.js");
  if (!existsSync(main)) {
    throw new UsageError(
      `the worker entry ${main} is missing: build it ("pnpm turbo run build --filter @grail/proof-worker") or pass --worker`,
    );
  }
  return { main, thread: main, torch: join(repoRoot, "packages/proof-worker/python/torch_worker.py") };
}

function python(args: string[]): string {
  return execFileSync("python3", [pyBench, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
}

function count(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0)
    throw new UsageError(`${name} must be a non-negative integer, got ${text}`);
  return v;
}

/** A tiny random model and its workload (bench_hf.py) in outDir: what a machine without a GPU can run. */
function tinySetup(outDir: string, log: (line: string) => void): { modelDir: string; workloadPath: string } {
  mkdirSync(outDir, { recursive: true });
  const modelDir = join(outDir, "tiny-model");
  writeRandomModel(modelDir, {
    modelType: "qwen2",
    hiddenSize: 128,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 320,
    vocabSize: 512,
    outliers: true,
    seed: 7,
    initStd: 0.05,
  });
  const workloadPath = join(outDir, "workload.json");
  const sizes = ["--groups", "3", "--prompt-len", "24", "--completion-min", "8", "--completion-max", "40"];
  const long = ["--long-groups", "1", "--long-prompt", "48", "--long-completion", "96"];
  log(
    python([
      "workload",
      "--config",
      join(modelDir, "config.json"),
      "--out",
      workloadPath,
      ...sizes,
      ...long,
    ]).trimEnd(),
  );
  return { modelDir, workloadPath };
}

async function colocation(
  values: Record<string, string | boolean | undefined>,
  backend: "cuda" | "cpu",
  log: (line: string) => void,
): Promise<number> {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const tiny = values.tiny === true;
  let modelDir = str("model");
  let workloadPath = str("workload");
  let out = str("out");
  if (tiny) {
    const outDir = str("out-dir");
    if (!outDir) throw new UsageError(`--tiny needs --out-dir\n${USAGE}`);
    ({ modelDir, workloadPath } = tinySetup(outDir, log));
    out = join(outDir, "colocation-tiny-qwen2.json");
  }
  if (!modelDir || !workloadPath || !out) throw new UsageError(USAGE);
  const tokens = count(str("tokens"), "--tokens", tiny ? 64 : 4096);
  if (tokens < 2) throw new UsageError("--tokens must be at least 2");
  const prompt = str("prompt") === undefined ? undefined : count(str("prompt"), "--prompt", 0);
  if (prompt !== undefined && (prompt < 1 || prompt >= tokens)) {
    throw new UsageError(`--prompt must be in [1, ${tokens - 1}]`);
  }
  const passes = count(str("passes"), "--passes", tiny ? 1 : 3);
  if (passes === 0) throw new UsageError("--passes must be at least 1");
  const gemmSize = count(str("gemm-size"), "--gemm-size", tiny ? 256 : 8192);
  const gemmSeconds = count(str("gemm-seconds"), "--gemm-seconds", tiny ? 1 : 8);
  if (gemmSize === 0 || gemmSeconds === 0)
    throw new UsageError("--gemm-size and --gemm-seconds must be at least 1");
  const gemm = join(repoRoot, "scripts/bench/proof/gemm_load.py");
  const device = backend === "cuda" ? "cuda" : "cpu";
  const result = await runColocation({
    shape: str("shape") ?? (tiny ? "tiny-qwen2" : "model"),
    modelDir: resolve(modelDir),
    workload: readWorkload(workloadPath),
    backend,
    tokensPerRollout: tokens,
    promptTokens: prompt,
    passes,
    gemm: {
      command: ["python3", gemm, "--size", String(gemmSize), "--device", device],
      aloneSeconds: gemmSeconds,
    },
    log,
  });
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 1));
  const md = colocationMarkdown(result);
  writeFileSync(`${out.replace(/\.json$/, "")}.md`, md);
  process.stdout.write(md);
  // The engine's buffers are sized by the same plan that reports the need: a difference is a bug there.
  const { engineBytes, need } = result.memory;
  return engineBytes !== null && engineBytes !== need.totalBytes ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      workload: { type: "string" },
      out: { type: "string" },
      "out-dir": { type: "string" },
      shape: { type: "string" },
      backend: { type: "string" },
      "hf-check": { type: "string" },
      worker: { type: "string" },
      "warmup-groups": { type: "string" },
      direct: { type: "string" },
      "direct-groups": { type: "string" },
      tiny: { type: "boolean" },
      workers: { type: "string" },
      repeat: { type: "string" },
      case: { type: "string" },
      tokens: { type: "string" },
      prompt: { type: "string" },
      passes: { type: "string" },
      "gemm-size": { type: "string" },
      "gemm-seconds": { type: "string" },
    },
  });
  const command = positionals[0];
  if (!["native", "scaling", "colocation"].includes(command ?? "") || positionals.length !== 1)
    throw new UsageError(USAGE);
  const backend = values.backend ?? "cuda";
  if (backend !== "cuda" && backend !== "cpu")
    throw new UsageError(`--backend must be cuda or cpu, got ${backend}`);
  if (command === "colocation")
    return colocation(values, backend, (line) => process.stdout.write(`${line}\n`));
  if (command === "scaling") {
    if (!values.model || !values.workload || !values.out) throw new UsageError(USAGE);
    const workerCounts = (values.workers ?? "1,2").split(",").map((w) => {
      const v = count(w.trim(), "--workers", 0);
      if (v === 0) throw new UsageError("--workers takes worker counts, each at least 1");
      return v;
    });
    const repeat = count(values.repeat, "--repeat", 3);
    if (repeat === 0) throw new UsageError("--repeat must be at least 1");
    const result = await runScaling({
      shape: values.shape ?? "model",
      modelDir: resolve(values.model),
      workload: readWorkload(values.workload),
      caseName: values.case ?? "standard",
      backend,
      entryPoints: entryPoints(values.worker),
      workerCounts,
      repeat,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    mkdirSync(dirname(resolve(values.out)), { recursive: true });
    writeFileSync(values.out, JSON.stringify(result, null, 1));
    process.stdout.write(scalingMarkdown(result));
    return 0;
  }
  const warmupGroups = count(values["warmup-groups"], "--warmup-groups", 1);
  const directGroups = count(values["direct-groups"], "--direct-groups", 8);
  const directBatchSizes = (values.direct ?? "16,64")
    .split(",")
    .filter((s) => s.trim() !== "")
    .map((s) => {
      const v = count(s.trim(), "--direct", 0);
      if (v === 0) throw new UsageError("--direct takes rollouts per call, each at least 1");
      return v;
    });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const workers = entryPoints(values.worker);

  if (values.tiny) {
    const outDir = values["out-dir"];
    if (!outDir) throw new UsageError(`--tiny needs --out-dir\n${USAGE}`);
    const { modelDir, workloadPath } = tinySetup(outDir, log);
    const result = await runNative({
      shape: "tiny-qwen2",
      modelDir,
      workload: readWorkload(workloadPath),
      backend,
      entryPoints: workers,
      warmupGroups,
      directBatchSizes,
      directGroups,
      log,
    });
    const resultPath = join(outDir, "native-tiny-qwen2.json");
    writeFileSync(resultPath, JSON.stringify(result, null, 1));
    log(python(["report", "--out-dir", outDir, resultPath]).trimEnd());
    return 0;
  }

  if (!values.model || !values.workload || !values.out) throw new UsageError(USAGE);
  const result = await runNative({
    shape: values.shape ?? "model",
    modelDir: resolve(values.model),
    workload: readWorkload(values.workload),
    backend,
    entryPoints: workers,
    warmupGroups,
    directBatchSizes,
    directGroups,
    hfCheckPath: values["hf-check"] && existsSync(values["hf-check"]) ? values["hf-check"] : undefined,
    log,
  });
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  writeFileSync(values.out, JSON.stringify(result, null, 1));
  let bad = 0;
  for (const [name, c] of Object.entries(result.checks)) {
    // A profiler that moves results, or an engine over the sketch tolerance, makes the figures worthless.
    if (!c.profilerUnchanged || !c.sharingUnchanged || (c.vsHf?.overTolerance ?? 0) > 0) bad++;
    log(
      `native ${result.shape} ${name}: profiler changes nothing ${c.profilerUnchanged}, prompt sharing ` +
        `changes nothing ${c.sharingUnchanged}, pool = in-process ` +
        `${c.poolMatchesDirect}` +
        (c.vsHf
          ? `, vs HF sketch max ${c.vsHf.sketchMax} (over tolerance ${c.vsHf.overTolerance}), ` +
            `median exp|dlp|-1 ${c.vsHf.medianLogprobDev.toFixed(4)}`
          : ""),
    );
  }
  return bad > 0 ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
