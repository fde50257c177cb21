import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type MinerConfig } from "@grail/config";
import { loadModel } from "@grail/engine-native";
import { IPC_PROTOCOL_VERSION, type ProvedReply, type WorkerReply } from "@grail/ipc";
import { createLogger, type Logger, parseVerbosity } from "@grail/log";
import { physicalGpuId, SubprocessWorker } from "@grail/pipeline/pool";
import {
  compareRollout,
  type DebugBatch,
  modelNameOf,
  newestCachedCheckpoint,
  type RolloutComparison,
  readBatchFile,
  samplePositions,
  syntheticBatch,
  vocabSizeOf,
  workerEntryPoints,
  writeBatchFile,
} from "@grail/proof-worker";
import { bytesToHex, commitBinding, GrailError, LAYER_INDEX, PROOF_BATCH_SIZE } from "@grail/protocol";

export const USAGE = `Usage: pnpm worker --gpu N [options]

Starts one proof worker on GPU N (relative to CUDA_VISIBLE_DEVICES) exactly as the miner does
(a child process pinned with CUDA_VISIBLE_DEVICES), proves a batch through the IPC protocol,
prints timings, and checks a sample of rollouts against the CPU reference backend.

  --model DIR           model directory (default: newest checkpoint in <GRAIL_CACHE_DIR>/checkpoints)
  --model-name NAME     name bound into the commit (default: metadata.json model_name or dir name)
  --batch FILE          prove a saved batch (JSON {randomnessHex?, modelName?, rollouts:[{tokens, promptLen}]})
  --rollouts N          synthetic batch size (default 64)
  --prompt-len N        synthetic prompt length (default 200)
  --completion-len N    synthetic completion length, upper bound (default 400)
  --seed N              synthetic batch seed (default 1)
  --save-batch FILE     write the batch that was proved, for a later --batch run
  --engine E            native (default) or torch
  --backend B           cuda or cpu (default: the engine's choice, CUDA when present)
  --threads N           CPU backend threads of the worker (default: all cores)
  --repeat N            prove the batch N times for timings (default 3)
  --compare N           rollouts checked against the CPU backend (default 2, 0 to skip)
  --positions N         sampled completion positions per checked rollout (default 32)
  --json                print the report as JSON
  -v, -vv               worker log verbosity

The miner's settings (.env and the environment) give the cache root, GRAIL_PYTHON for the torch
engine and the engine switches GRAIL_ENGINE_PROFILE / GRAIL_ENGINE_SHARE_PROMPTS.
`;

export interface CliReport {
  gpu: number;
  cudaVisibleDevices: string;
  engine: string;
  workerPid: number;
  runtime: string;
  device: string;
  modelDir: string;
  modelName: string;
  loadMs: number;
  rollouts: number;
  tokens: number;
  runs: { wallMs: number; proveMs: number; hashMs: number }[];
  rolloutsPerSecond: number;
  tokensPerSecond: number;
  bindingsVerified: number;
  bindingMismatches: number[];
  comparisons: RolloutComparison[];
  cpuReferenceMs: number | null;
  ok: boolean;
}

class UsageError extends GrailError {}

function intFlag(v: string | undefined, name: string, fallback: number, min = 0): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
}

function flatten(batch: DebugBatch) {
  const lengths = Int32Array.from(batch.rollouts, (r) => r.tokens.length);
  const promptLens = Int32Array.from(batch.rollouts, (r) => r.promptLen);
  const tokens = Int32Array.from(batch.rollouts.flatMap((r) => r.tokens));
  const groupSizes: number[] = [];
  for (let left = batch.rollouts.length; left > 0; left -= batch.groupSize) {
    groupSizes.push(Math.min(batch.groupSize, left));
  }
  return { tokens, lengths, promptLens, groupSizes };
}

function expectReply<T extends WorkerReply["type"]>(reply: WorkerReply, type: T, what: string) {
  if (reply.type === type) return reply as Extract<WorkerReply, { type: T }>;
  const detail = reply.type === "error" ? `${reply.code}: ${reply.message}` : `unexpected ${reply.type}`;
  throw new Error(`${what} failed (${detail})`);
}

function rolloutOf(reply: ProvedReply, batch: DebugBatch, i: number) {
  let tokenAt = 0;
  let lpAt = 0;
  for (let k = 0; k < i; k++) {
    const r = batch.rollouts[k]!;
    tokenAt += r.tokens.length;
    lpAt += r.tokens.length - r.promptLen;
  }
  const r = batch.rollouts[i]!;
  return {
    sVals: reply.sVals.subarray(tokenAt, tokenAt + r.tokens.length),
    logprobs: reply.logprobs.subarray(lpAt, lpAt + r.tokens.length - r.promptLen),
    eosProb: reply.eosProbs[i]!,
    bindingHash: reply.bindingHashes.subarray(i * 32, i * 32 + 32),
  };
}

function printHuman(r: CliReport, out: (s: string) => void): void {
  out(
    `worker   GPU ${r.gpu} (CUDA_VISIBLE_DEVICES=${r.cudaVisibleDevices}), ${r.engine} engine, pid ${r.workerPid}, ${r.runtime}`,
  );
  out(`device   ${r.device}`);
  out(`model    ${r.modelDir} (${r.modelName}), loaded in ${r.loadMs.toFixed(0)} ms`);
  out(`batch    ${r.rollouts} rollouts, ${r.tokens} tokens, sub-batches of ${PROOF_BATCH_SIZE}`);
  for (const [i, run] of r.runs.entries()) {
    out(
      `run ${i + 1}    ${run.wallMs.toFixed(1)} ms wall (engine ${run.proveMs.toFixed(1)} ms, hashing ${run.hashMs.toFixed(1)} ms)`,
    );
  }
  out(
    `speed    ${r.rolloutsPerSecond.toFixed(2)} rollouts/s, ${r.tokensPerSecond.toFixed(0)} tokens/s (best run)`,
  );
  out(
    `binding  ${r.bindingsVerified - r.bindingMismatches.length}/${r.bindingsVerified} commit bindings recomputed from the returned sketches match`,
  );
  if (r.comparisons.length === 0) out("compare  skipped");
  else
    out(
      `compare  ${r.comparisons.length} rollouts against the CPU backend (${r.cpuReferenceMs?.toFixed(0)} ms)`,
    );
  for (const c of r.comparisons) {
    out(
      `  #${c.index}: ${c.positions} positions, sketch max ${c.sketchMax} mean ${c.sketchMean.toFixed(1)} identical ${(100 * c.identicalFraction).toFixed(1)}%, sampled max ${c.sampledSketchMax}, logprob max |Δ| ${c.logprobMaxAbs.toExponential(2)} median dev ${c.logprobMedianDev.toExponential(2)}, eos Δ ${c.eosProbDelta.toExponential(2)} ${c.pass ? "ok" : "MISMATCH"}`,
    );
    for (const o of c.overTolerance.slice(0, 5)) {
      out(`     position ${o.position}: sketch distance ${o.distance} > tolerance ${o.tolerance}`);
    }
  }
  out(r.ok ? "result   ok" : "result   MISMATCH");
}

/** `pnpm worker --gpu N`: returns the process exit code. */
export async function runCli(
  argv: readonly string[],
  options: {
    /** The script that serves IPC in the child (main.js, or the bundle that runs this CLI). */
    workerMain?: string;
    out?: (s: string) => void;
    err?: (s: string) => void;
    /** The miner's settings; default: loadConfig() over .env and the environment. */
    settings?: () => MinerConfig;
  } = {},
): Promise<number> {
  const io = {
    out: options.out ?? ((s: string) => void process.stdout.write(`${s}\n`)),
    err: options.err ?? ((s: string) => void process.stderr.write(`${s}\n`)),
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => !/^-v+$/.test(a) && a !== "--verbose"),
      options: {
        gpu: { type: "string" },
        model: { type: "string" },
        "model-name": { type: "string" },
        batch: { type: "string" },
        rollouts: { type: "string" },
        "prompt-len": { type: "string" },
        "completion-len": { type: "string" },
        seed: { type: "string" },
        "save-batch": { type: "string" },
        engine: { type: "string" },
        backend: { type: "string" },
        threads: { type: "string" },
        repeat: { type: "string" },
        compare: { type: "string" },
        positions: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const verbosity = parseVerbosity(argv);
  const logger: Logger = createLogger({ verbosity, stream: process.stderr });
  let worker: SubprocessWorker | null = null;
  try {
    if (values.gpu === undefined) throw new UsageError("--gpu N is required");
    const settings = (options.settings ?? (() => loadConfig({ argv: [] })))();
    const gpu = intFlag(values.gpu as string, "gpu", 0);
    const engine = (values.engine as string | undefined) ?? "native";
    if (engine !== "native" && engine !== "torch")
      throw new UsageError(`--engine must be native or torch, got ${engine}`);
    const backend = values.backend as string | undefined;
    if (backend !== undefined && backend !== "cpu" && backend !== "cuda") {
      throw new UsageError(`--backend must be cuda or cpu, got ${backend}`);
    }
    let modelDir = values.model as string | undefined;
    let checkpointWindow = 0;
    if (modelDir === undefined) {
      const cacheDir = settings.paths.cacheDir;
      const newest = newestCachedCheckpoint(cacheDir);
      if (!newest) {
        throw new UsageError(`no --model given and no checkpoint cached under ${cacheDir}/checkpoints`);
      }
      modelDir = newest.dir;
      checkpointWindow = newest.window;
    }
    modelDir = resolve(modelDir);
    if (!existsSync(`${modelDir}/config.json`)) throw new UsageError(`${modelDir} has no config.json`);
    const modelName = (values["model-name"] as string | undefined) ?? modelNameOf(modelDir);
    const vocab = vocabSizeOf(modelDir);
    const batch = values.batch
      ? readBatchFile(values.batch as string, vocab, modelName)
      : syntheticBatch({
          rollouts: intFlag(values.rollouts as string, "rollouts", 64, 1),
          promptLen: intFlag(values["prompt-len"] as string, "prompt-len", 200, 1),
          completionLen: intFlag(values["completion-len"] as string, "completion-len", 400, 2),
          vocabSize: vocab,
          seed: intFlag(values.seed as string, "seed", 1),
          modelName,
        });
    if (values["save-batch"]) writeBatchFile(values["save-batch"] as string, batch);
    const repeat = intFlag(values.repeat as string, "repeat", 3, 1);
    const compareCount = Math.min(intFlag(values.compare as string, "compare", 2), batch.rollouts.length);
    const positions = intFlag(values.positions as string, "positions", 32, 1);
    const threads =
      values.threads === undefined ? undefined : intFlag(values.threads as string, "threads", 0);

    const entry = workerEntryPoints();
    const visible = physicalGpuId(gpu, settings.pipeline.cudaVisibleDevices?.join(",") ?? null);
    const env = {
      ...process.env,
      CUDA_VISIBLE_DEVICES: visible,
      GRAIL_WORKER_IPC: "1",
      GRAIL_WORKER_GPU: String(gpu),
      GRAIL_WORKER_VERBOSITY: String(verbosity),
      PYTHONUNBUFFERED: "1",
    };
    worker = await SubprocessWorker.start({
      spec:
        engine === "torch"
          ? { command: settings.pipeline.python, args: [entry.torch], env }
          : { command: process.execPath, args: [options.workerMain ?? entry.main], env },
      logger: logger.child({ gpu }),
      helloTimeoutMs: 120_000,
    });
    const workerPid = worker.pid;
    const runtime = worker.hello.runtime;
    const loaded = expectReply(
      await worker.request({
        type: "load",
        protocolVersion: IPC_PROTOCOL_VERSION,
        modelDir,
        checkpointWindow,
        device: 0,
        ...(backend ? { backend } : {}),
        ...(threads !== undefined ? { threads } : {}),
        options: {
          profile: settings.pipeline.engineProfile,
          sharePrompts: settings.pipeline.engineSharePrompts,
        },
      }),
      "loaded",
      "model load",
    );
    const flat = flatten(batch);
    const runs: CliReport["runs"] = [];
    let last: ProvedReply | null = null;
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      const reply = expectReply(
        await worker.request({
          type: "prove",
          checkpointWindow,
          randomnessHex: batch.randomnessHex,
          modelName: batch.modelName,
          layerIndex: LAYER_INDEX,
          ...flat,
        }),
        "proved",
        "prove",
      );
      runs.push({ wallMs: performance.now() - t0, proveMs: reply.proveMs, hashMs: reply.hashMs });
      last = reply;
    }
    await worker.close(5_000);
    worker = null;
    const proved = last!;

    const mismatches: number[] = [];
    batch.rollouts.forEach((r, i) => {
      const got = rolloutOf(proved, batch, i);
      const expected = commitBinding({
        tokens: r.tokens,
        randomnessHex: batch.randomnessHex,
        modelName: batch.modelName,
        layerIndex: LAYER_INDEX,
        sketches: got.sVals,
      });
      if (bytesToHex(expected) !== bytesToHex(got.bindingHash)) mismatches.push(i);
    });

    const comparisons: RolloutComparison[] = [];
    let cpuReferenceMs: number | null = null;
    if (compareCount > 0) {
      const t0 = performance.now();
      const cpu = await loadModel(modelDir, { backend: "cpu" });
      const sample = batch.rollouts.slice(0, compareCount);
      const reference = await cpu.prove(sample, batch.randomnessHex);
      cpu.close();
      cpuReferenceMs = performance.now() - t0;
      let seed = 12345;
      const rand = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed / 4294967296;
      };
      sample.forEach((r, i) => {
        const sampled = samplePositions(r.promptLen, r.tokens.length, positions, rand);
        comparisons.push(compareRollout(i, r.promptLen, rolloutOf(proved, batch, i), reference[i]!, sampled));
      });
    }
    const best = runs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
    const report: CliReport = {
      gpu,
      cudaVisibleDevices: visible,
      engine,
      workerPid,
      runtime,
      device: loaded.device,
      modelDir,
      modelName: batch.modelName,
      loadMs: loaded.elapsedMs,
      rollouts: batch.rollouts.length,
      tokens: flat.tokens.length,
      runs,
      rolloutsPerSecond: (batch.rollouts.length / best.wallMs) * 1000,
      tokensPerSecond: (flat.tokens.length / best.wallMs) * 1000,
      bindingsVerified: batch.rollouts.length,
      bindingMismatches: mismatches,
      comparisons,
      cpuReferenceMs,
      ok: mismatches.length === 0 && comparisons.every((c) => c.pass),
    };
    if (values.json) io.out(JSON.stringify(report, null, 2));
    else printHuman(report, io.out);
    await logger.close();
    return report.ok ? 0 : 1;
  } catch (err) {
    if (worker) await worker.close(2_000);
    io.err(err instanceof UsageError ? `${err.message}\n\n${USAGE}` : `error: ${(err as Error).message}`);
    await logger.close();
    return err instanceof UsageError || err instanceof ConfigError ? 2 : 1;
  }
}
