// What a proof worker needs to share a GPU with generation (issue 22; docs/performance.md), measured on
// one GPU in this process:
//   memory: the engine's reported need for its largest batch (proofMemoryNeed: one group of 16 rollouts
//     of --tokens, the prompt computed once) next to what the GPU shows while the model loads and that
//     batch proves (nvidia-smi's memory.used sampled every 100 ms, the engine's own accounting and
//     cudaMemGetInfo from its profile);
//   contention: proof throughput (the engine alone, one group a call as the worker proves) alone and
//     while another process keeps the same GPU busy with bf16 GEMMs (gemm_load.py), and what the GEMMs
//     lose meanwhile.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import {
  batchMemoryNeed,
  defaultPromptTokens,
  loadModel,
  type ProofMemoryNeed,
  type ProofModel,
  type ProofModelDiagnostics,
  proofMemoryNeed,
  type RolloutInput,
} from "../../../packages/engine-native/src/index.js";
import { tokenSeq } from "../../../packages/engine-native/src/testing/index.js";
import { DeviceMemorySampler, deviceMemoryUsed, GpuMemorySampler, visibleGpuIndex } from "./gpu-memory.js";
import type { Workload } from "./workload.js";

export interface ColocationOptions {
  shape: string;
  modelDir: string;
  workload: Workload;
  backend: "cuda" | "cpu";
  /** Tokens of each rollout of the memory batch (the context the miner allows). */
  tokensPerRollout: number;
  /** Its shared prompt; default proofMemoryNeed's (the longest completion the protocol allows). */
  promptTokens?: number;
  /** Proofs of the workload's standard groups in each timed run. */
  passes: number;
  /** argv of the GEMM load (gemm_load.py) and how long it runs alone before the proofs join it. */
  gemm: { command: string[]; aloneSeconds: number };
  log: (line: string) => void;
}

export interface MemoryFigures {
  batch: ProofMemoryNeed["batch"] & { tokensPerRollout: number; promptTokens: number };
  /** What the engine reports for that batch (proofMemoryNeed). */
  need: Omit<ProofMemoryNeed, "batch">;
  /** The CUDA backend's own sum of its device buffers after the call (profile engineBytes). */
  engineBytes: number | null;
  /** cudaMemGetInfo at the end of the call: the whole device, this process's context included. */
  cudaUsedBytes: number | null;
  /** nvidia-smi memory.used before this process touched the GPU. */
  idleDeviceBytes: number | null;
  /** Peak of nvidia-smi memory.used while the model loaded and the batch proved. */
  peakDeviceBytes: number | null;
  /** Peak of this process's own figure (nvidia-smi --query-compute-apps; hidden in some containers). */
  peakProcessBytes: number | null;
  proveSeconds: number;
}

export interface ProofRun {
  rollouts: number;
  seconds: number;
}

export interface ContentionFigures {
  proofsAlone: ProofRun;
  proofsBesideGemms: ProofRun;
  /** GEMM FLOP/s with the engine idle, and while the proofs ran. */
  gemmAloneFlops: number | null;
  gemmBesideProofsFlops: number | null;
  /** Proof rollouts/s alone over beside the GEMMs: the layout model's colocatedProofContention. */
  contentionFactor: number;
  /**
   * GPU-seconds the GEMMs lost while the proofs ran, per GPU-second the proofs take alone. The layout
   * model assumes this equals the contention factor.
   */
  gemmLossPerProofSecond: number | null;
}

export interface ColocationResult {
  kind: "colocation";
  shape: string;
  backend: string;
  memory: MemoryFigures;
  contention: ContentionFigures;
}

export interface GemmChunk {
  /** Wall-clock end, unix seconds. */
  end: number;
  seconds: number;
  flops: number;
}

/** One "gemm <end> <seconds> <flops>" line of gemm_load.py, or null for any other line. */
export function parseGemmLine(line: string): GemmChunk | null {
  const m = /^gemm (\S+) (\S+) (\S+)$/.exec(line.trim());
  if (!m) return null;
  const [end, seconds, flops] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return [end, seconds, flops].every((v) => Number.isFinite(v) && v >= 0) && seconds > 0
    ? { end, seconds, flops }
    : null;
}

/** FLOP/s of the chunks that ran wholly inside [from, to] (unix seconds), or null when none did. */
export function gemmRate(chunks: readonly GemmChunk[], from: number, to: number): number | null {
  const inside = chunks.filter((c) => c.end - c.seconds >= from && c.end <= to);
  const seconds = inside.reduce((a, c) => a + c.seconds, 0);
  return seconds > 0 ? inside.reduce((a, c) => a + c.flops, 0) / seconds : null;
}

export function contentionFigures(
  alone: ProofRun,
  beside: ProofRun,
  gemmAloneFlops: number | null,
  gemmBesideProofsFlops: number | null,
): ContentionFigures {
  const rate = (r: ProofRun) => r.rollouts / r.seconds;
  const lost =
    gemmAloneFlops && gemmBesideProofsFlops !== null
      ? (1 - gemmBesideProofsFlops / gemmAloneFlops) * beside.seconds
      : null;
  // The GPU-seconds the same proofs take alone.
  const proofSeconds = (alone.seconds * beside.rollouts) / alone.rollouts;
  return {
    proofsAlone: alone,
    proofsBesideGemms: beside,
    gemmAloneFlops,
    gemmBesideProofsFlops,
    contentionFactor: rate(alone) / rate(beside),
    gemmLossPerProofSecond: lost === null ? null : lost / proofSeconds,
  };
}

/** One group of 16 rollouts of `len` tokens sharing a `prompt`-token prompt, random tokens (seeded). */
export function memoryBatch(vocab: number, len: number, prompt: number): RolloutInput[] {
  const shared = tokenSeq(prompt, vocab, 7);
  return Array.from({ length: 16 }, (_, i) => ({
    tokens: [...shared, ...tokenSeq(len - prompt, vocab, 1000 + i)],
    promptLen: prompt,
  }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measureMemory(
  o: ColocationOptions,
): Promise<{ model: ProofModel & ProofModelDiagnostics; memory: MemoryFigures }> {
  const gpu = visibleGpuIndex();
  const idleDeviceBytes = await deviceMemoryUsed(gpu);
  const device = new DeviceMemorySampler(gpu);
  const own = new GpuMemorySampler(process.pid, 100);
  const model = await loadModel(o.modelDir, { backend: o.backend });
  const prompt = o.promptTokens ?? defaultPromptTokens(o.tokensPerRollout);
  const need = proofMemoryNeed(o.modelDir, {
    rollouts: 16,
    tokensPerRollout: o.tokensPerRollout,
    promptTokens: prompt,
  });
  const batch = memoryBatch(model.info.vocabSize, o.tokensPerRollout, prompt);
  const exact = batchMemoryNeed(o.modelDir, batch);
  if (exact.totalBytes !== need.totalBytes) {
    throw new Error(`the memory batch needs ${exact.totalBytes} bytes, the group shape ${need.totalBytes}`);
  }
  const t0 = performance.now();
  await model.prove(batch, o.workload.randomness, { profile: true });
  const proveSeconds = (performance.now() - t0) / 1000;
  const profile = await model.lastProfile();
  await sleep(300); // a last sample or two: the engine keeps its buffers, so the peak stays
  const after = await deviceMemoryUsed(gpu);
  await Promise.all([device.stop(), own.stop()]);
  const peak = device.takePeak();
  const { batch: shape, ...figures } = need;
  return {
    model,
    memory: {
      batch: { ...shape, tokensPerRollout: o.tokensPerRollout, promptTokens: prompt },
      need: figures,
      engineBytes: profile?.memory.engineBytes ?? null,
      cudaUsedBytes: profile?.memory.deviceUsedBytes ?? null,
      idleDeviceBytes,
      peakDeviceBytes: peak === null && after === null ? null : Math.max(peak ?? 0, after ?? 0),
      peakProcessBytes: own.takePeak(),
      proveSeconds,
    },
  };
}

async function proveAll(model: ProofModel, groups: RolloutInput[][], randomness: string): Promise<ProofRun> {
  const t0 = performance.now();
  for (const g of groups) await model.prove(g, randomness);
  return { rollouts: groups.reduce((a, g) => a + g.length, 0), seconds: (performance.now() - t0) / 1000 };
}

/** Starts the GEMM load and resolves once it reports "ready"; its chunks collect into `chunks`. */
function startGemms(command: string[], chunks: GemmChunk[]): Promise<ChildProcess> {
  const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.trim() === "ready") resolve(child);
      const c = parseGemmLine(line);
      if (c) chunks.push(c);
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the GEMM load (${command.join(" ")}) exited with ${code}`)));
  });
}

async function stopGemms(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function measureContention(model: ProofModel, o: ColocationOptions): Promise<ContentionFigures> {
  const standard = o.workload.cases.find((c) => c.name === "standard") ?? o.workload.cases[0]!;
  const groups = Array.from({ length: o.passes }, () => standard.groups).flat();
  await model.prove(standard.groups[0]!, o.workload.randomness); // warm-up at this size
  const alone = await proveAll(model, groups, o.workload.randomness);
  o.log(`colocation ${o.shape}: proofs alone ${(alone.rollouts / alone.seconds).toFixed(1)} rollouts/s`);
  const chunks: GemmChunk[] = [];
  const gemms = await startGemms(o.gemm.command, chunks);
  try {
    const ready = Date.now() / 1000;
    await sleep(o.gemm.aloneSeconds * 1000);
    const t0 = Date.now() / 1000;
    const beside = await proveAll(model, groups, o.workload.randomness);
    const t1 = Date.now() / 1000;
    await sleep(500); // the chunk running at t1 ends after it; it is not counted either way
    const figures = contentionFigures(alone, beside, gemmRate(chunks, ready, t0), gemmRate(chunks, t0, t1));
    o.log(
      `colocation ${o.shape}: proofs beside the GEMMs ${(beside.rollouts / beside.seconds).toFixed(1)} rollouts/s, ` +
        `contention factor ${figures.contentionFactor.toFixed(2)}`,
    );
    return figures;
  } finally {
    await stopGemms(gemms);
  }
}

export async function runColocation(o: ColocationOptions): Promise<ColocationResult> {
  const { model, memory } = await measureMemory(o);
  try {
    const contention = await measureContention(model, o);
    return { kind: "colocation", shape: o.shape, backend: o.backend, memory, contention };
  } finally {
    model.close();
  }
}
