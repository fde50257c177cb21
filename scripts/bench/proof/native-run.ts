// The native side of the proof benchmark: throughput of the engine through the proof pool (one worker
// process on GPU 0, the miner's topology; results copied back, hashed and signed), then, in this
// process, one batch per case proved without and with the per-stage profiler (their results must be
// identical), compared with the pool's results for the same group and with HF's where given.
import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  type AccuracyReport,
  availableBackends,
  compareProofs,
  type EngineProfile,
  identicalProofs,
  loadModel,
  type RolloutProof,
} from "../../../packages/engine-native/src/index.js";
import { readBuildInfo } from "../../../packages/engine-native/src/native.js";
import { createLogger, type Logger } from "../../../packages/log/src/index.js";
import {
  type HotkeySigner,
  type ProofGroup,
  ProofPool,
  type ProvedGroup,
} from "../../../packages/pipeline/src/pool/index.js";
import type { WorkerEntryPoints } from "../../../packages/proof-worker/src/entry-points.js";
import { GpuMemorySampler } from "./gpu-memory.js";
import { type BreakdownRow, breakdown } from "./stage-work.js";
import type { Workload, WorkloadCase } from "./workload.js";

/** Read by the CUDA backend at each prove(): set around one call here, never for the pool's worker. */
export const PROFILE_VAR = "GRAIL_ENGINE_PROFILE";
/** "0" makes the CUDA backend compute every rollout's prompt itself instead of once per group. */
const SHARE_VAR = "GRAIL_ENGINE_SHARE_PROMPTS";

export interface NativeRunOptions {
  shape: string;
  modelDir: string;
  workload: Workload;
  backend: "cuda" | "cpu";
  entryPoints: WorkerEntryPoints;
  /** Groups proved before the timed run of each case (the largest ones, so no buffer grows later). */
  warmupGroups: number;
  /** HF proofs of the first group of each case (bench_hf.py's hf-check.json). */
  hfCheckPath?: string;
  /**
   * Rollouts per engine call for in-process timings of the standard case (no pool, no IPC, no hashing):
   * what the pool costs on top of the engine, and what larger calls than the worker's 16 would gain.
   */
  directBatchSizes: number[];
  /** Groups of the standard case those timings use (the first ones). */
  directGroups: number;
  log: (line: string) => void;
}

export interface NativeCaseResult {
  name: string;
  rollouts: number;
  tokens: number;
  flops: number;
  seconds: number;
  warmupSeconds: number;
  /** Sum of the worker's engine time over the timed groups (the rest is IPC, hashing, signing). */
  engineSeconds: number;
  peakMemoryBytes: number | null;
  peakMemorySource: "nvidia-smi (worker process)" | "cudaMemGetInfo (profiled batch)" | null;
}

export interface NativeCaseProfile {
  sequences: number;
  tokens: number;
  logitRows: number;
  maxLen: number;
  gpuMs: number;
  wallMs: number;
  memory: EngineProfile["memory"];
  stages: BreakdownRow[];
}

export interface NativeCaseCheck {
  /** Proofs with the profiler on are bit-identical to proofs with it off. */
  profilerUnchanged: boolean;
  /** Proofs with each group's prompt computed once are bit-identical to proofs computing it per rollout. */
  sharingUnchanged: boolean;
  /** The pool's proofs of the group are bit-identical to this process's. */
  poolMatchesDirect: boolean;
  /** Validator figures of this engine against HF on the group (random tokens: a sanity check only). */
  vsHf: AccuracyReport | null;
}

export interface DirectTiming {
  case: string;
  rolloutsPerCall: number;
  /** Whether a group's prompt was computed once (the engine's default) or once per rollout. */
  sharedPrompts: boolean;
  rollouts: number;
  tokens: number;
  seconds: number;
  rolloutsPerSecond: number;
  tokensPerSecond: number;
  /**
   * The first group's proofs from these calls against the same group proved alone (16 a call, as the
   * worker does): larger calls may pick other GEMM algorithms, so this says whether results move.
   */
  vsSixteen: AccuracyReport | null;
}

export interface NativeResult {
  kind: "native";
  shape: string;
  env: { backend: string; device: string; node: string; build: unknown };
  cases: NativeCaseResult[];
  direct: DirectTiming[];
  profiles: Record<string, NativeCaseProfile | null>;
  checks: Record<string, NativeCaseCheck>;
}

/** The miner signs with its sr25519 hotkey; here an Ed25519 key of node:crypto does the same work. */
export function benchSigner(): HotkeySigner {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return {
    ss58: "proof-bench",
    publicKey: new Uint8Array(raw),
    sign: (m) => new Uint8Array(sign(null, m, privateKey)),
  };
}

/** Tokens of a group (or any list of rollouts). */
export const tokensOf = (g: readonly { tokens: ArrayLike<number> }[]) =>
  g.reduce((a, r) => a + r.tokens.length, 0);

async function timeCase(
  pool: ProofPool,
  c: WorkloadCase,
  randomnessHex: string,
  warmupGroups: number,
): Promise<{ proved: ProvedGroup[]; seconds: number; warmupSeconds: number }> {
  const groups: ProofGroup[] = c.groups.map((rollouts, i) => ({ groupId: `${c.name}-${i}`, rollouts }));
  const ctx = { randomnessHex, modelName: "proof-bench", checkpointWindow: 0 };
  const settle = async (gs: ProofGroup[]) =>
    (await pool.proveGroups(gs, ctx)).map((r) => {
      if (r.status === "rejected") throw r.reason;
      return r.value;
    });
  const largest = [...groups]
    .sort((a, b) => tokensOf(b.rollouts) - tokensOf(a.rollouts))
    .slice(0, warmupGroups);
  const w0 = performance.now();
  await settle(largest);
  const t0 = performance.now();
  const proved = await settle(groups);
  return { proved, seconds: (performance.now() - t0) / 1000, warmupSeconds: (t0 - w0) / 1000 };
}

/**
 * The proof pool as the miner runs it (subprocess workers, one per GPU, no in-process fallback), signing
 * with the bench key. Workers run unprofiled whatever this shell says: timed runs must not pay for events.
 */
export function startBenchPool(o: {
  gpus: number[];
  modelDir: string;
  backend: "cuda" | "cpu";
  entryPoints: WorkerEntryPoints;
  logger: Logger;
}): Promise<ProofPool> {
  const env = { ...process.env };
  delete env[PROFILE_VAR];
  return ProofPool.start({
    gpus: o.gpus,
    topology: "subprocess",
    fallbackToInProcess: false,
    engine: "native",
    backend: o.backend,
    model: { modelDir: o.modelDir, checkpointWindow: 0 },
    signer: benchSigner(),
    entryPoints: o.entryPoints,
    env,
    logger: o.logger,
    startupTimeoutMs: 900_000,
    helloTimeoutMs: 300_000,
  });
}

export async function runNative(o: NativeRunOptions): Promise<NativeResult> {
  const { workload } = o;
  const logger = createLogger({ verbosity: 0, stream: process.stderr });
  const pool = await startBenchPool({
    gpus: [0],
    modelDir: o.modelDir,
    backend: o.backend,
    entryPoints: o.entryPoints,
    logger,
  });
  const pid = pool.stats().workers[0]?.pid ?? null;
  const sampler = pid === null ? null : new GpuMemorySampler(pid);
  const cases: NativeCaseResult[] = [];
  const firstGroups = new Map<string, ProvedGroup>();
  try {
    for (const c of workload.cases) {
      const t = await timeCase(pool, c, workload.randomness, Math.min(o.warmupGroups, c.groups.length));
      firstGroups.set(c.name, t.proved[0]!);
      cases.push({
        name: c.name,
        rollouts: c.rollouts,
        tokens: c.tokens,
        flops: c.flops,
        seconds: t.seconds,
        warmupSeconds: t.warmupSeconds,
        engineSeconds: t.proved.reduce((a, g) => a + g.proveMs, 0) / 1000,
        peakMemoryBytes: sampler?.takePeak() ?? null,
        peakMemorySource: null,
      });
      o.log(
        `native ${o.shape} ${c.name}: ${(c.rollouts / t.seconds).toFixed(1)} rollouts/s, ` +
          `${Math.round(c.tokens / t.seconds).toLocaleString("en-US")} tokens/s through the pool ` +
          `(${t.seconds.toFixed(2)} s, warm-up ${t.warmupSeconds.toFixed(2)} s)`,
      );
    }
  } finally {
    await pool.shutdown();
    await sampler?.stop();
  }

  // One batch per case in this process: unprofiled, then profiled, same tokens.
  const hfCheck = o.hfCheckPath
    ? (JSON.parse(readFileSync(o.hfCheckPath, "utf8")) as {
        cases: Record<string, { group: number; rollouts: RolloutProof[] }[]>;
      })
    : null;
  const model = await loadModel(o.modelDir, { backend: o.backend });
  const profiles: Record<string, NativeCaseProfile | null> = {};
  const checks: Record<string, NativeCaseCheck> = {};
  const direct: DirectTiming[] = [];
  try {
    const standard = workload.cases.find((c) => c.name === "standard") ?? workload.cases[0]!;
    const rollouts = standard.groups.slice(0, Math.max(1, o.directGroups)).flat();
    const tokens = tokensOf(rollouts);
    const firstGroup = standard.groups[0]!;
    const alone = await model.prove(firstGroup, workload.randomness);
    const runs = [
      ...o.directBatchSizes.map((size) => ({ size, sharedPrompts: true })),
      { size: o.directBatchSizes[0] ?? 16, sharedPrompts: false },
    ];
    for (const { size, sharedPrompts } of runs) {
      if (!sharedPrompts) process.env[SHARE_VAR] = "0";
      try {
        await model.prove(rollouts.slice(0, size), workload.randomness); // warm-up at this size
        let first: RolloutProof[] = [];
        const t0 = performance.now();
        for (let i = 0; i < rollouts.length; i += size) {
          const proofs = await model.prove(rollouts.slice(i, i + size), workload.randomness);
          if (i === 0) first = proofs.slice(0, firstGroup.length);
        }
        const seconds = (performance.now() - t0) / 1000;
        direct.push({
          case: standard.name,
          rolloutsPerCall: size,
          sharedPrompts,
          rollouts: rollouts.length,
          tokens,
          seconds,
          rolloutsPerSecond: rollouts.length / seconds,
          tokensPerSecond: tokens / seconds,
          vsSixteen: first.length === firstGroup.length ? compareProofs(firstGroup, alone, first) : null,
        });
        o.log(
          `native ${o.shape} ${standard.name} in-process, ${size} rollouts a call` +
            `${sharedPrompts ? "" : ", prompts computed per rollout"}: ${(rollouts.length / seconds).toFixed(1)} rollouts/s`,
        );
      } finally {
        delete process.env[SHARE_VAR];
      }
    }
    for (const c of workload.cases) {
      const batch = c.groups[0]!;
      const plain = await model.prove(batch, workload.randomness);
      process.env[SHARE_VAR] = "0";
      let unshared: RolloutProof[];
      try {
        unshared = await model.prove(batch, workload.randomness);
      } finally {
        delete process.env[SHARE_VAR];
      }
      process.env[PROFILE_VAR] = "1";
      let profiled: RolloutProof[];
      let profile: EngineProfile | null;
      try {
        profiled = await model.prove(batch, workload.randomness);
        profile = await model.lastProfile();
      } finally {
        delete process.env[PROFILE_VAR];
      }
      profiles[c.name] = profile && {
        sequences: profile.sequences,
        tokens: profile.tokens,
        logitRows: profile.logitRows,
        maxLen: profile.maxLen,
        gpuMs: profile.gpuMs,
        wallMs: profile.wallMs,
        memory: profile.memory,
        stages: breakdown(profile, workload.model, batch),
      };
      const hf = hfCheck?.cases[c.name]?.find((g) => g.group === 0);
      checks[c.name] = {
        profilerUnchanged: identicalProofs(plain, profiled),
        sharingUnchanged: identicalProofs(plain, unshared),
        poolMatchesDirect: identicalProofs(
          plain,
          firstGroups
            .get(c.name)!
            .rollouts.map((r) => ({ sVals: r.sVals, logprobs: r.logprobs, eosProb: r.eosProb })),
        ),
        vsHf: hf ? compareProofs(batch, hf.rollouts, plain) : null,
      };
      const result = cases.find((x) => x.name === c.name)!;
      if (result.peakMemoryBytes !== null) {
        result.peakMemorySource = "nvidia-smi (worker process)";
      } else if (profile) {
        result.peakMemoryBytes = profile.memory.deviceUsedBytes;
        result.peakMemorySource = "cudaMemGetInfo (profiled batch)";
      }
    }
  } finally {
    model.close();
  }
  const device =
    o.backend === "cuda" ? (availableBackends().cuda.devices?.[0]?.name ?? "unknown GPU") : "cpu (all cores)";
  await logger.close();
  return {
    kind: "native",
    shape: o.shape,
    env: { backend: o.backend, device, node: process.version, build: readBuildInfo() },
    cases,
    direct,
    profiles,
    checks,
  };
}
