/**
 * A discrete-event model of mining windows: what a GPU layout and GROUPS_PER_BATCH yield in
 * rollouts per window, from per-stage rates. It follows the engine's own rules: one generate call
 * in flight (GROUPS_PER_BATCH × 16 prompts, split evenly over the generation replicas), each
 * finished batch rewarded and proved group by group on the proof worker that finishes it first
 * while the next batch generates, backpressure when the proof side holds too many groups, packaging
 * (signing) serial on the coordinator, and the time-budget gate and seal of TimeBudget with its EMAs
 * carried from window to window.
 *
 * A proof worker beside generation on a generation GPU proves at its rate divided by the contention
 * factor, and its replica's generation gets none of the time it spends proving: the proof
 * GPU-seconds (× the factor) come out of generation, so the replica's generation rate drops by the
 * proof work's share times the factor. The replica's GPUs run in lockstep (TP), so its busiest
 * co-located worker sets the delay.
 */
import { BLOCK_TIME_SECONDS, ROLLOUTS_PER_PROBLEM, WINDOW_LENGTH } from "@grail/protocol";
import { MiningError } from "./errors.js";

/** Generation throughput of one server: rollouts/s as a function of tensor parallelism and load. */
export interface GenerationRates {
  /** Rollouts/s of a TP=1 server at full utilisation. */
  peakRolloutsPerSecondTp1: number;
  /** Scaling efficiency of TP (peak(TP) = peak1 · TP · efficiency[TP]); missing sizes interpolate. */
  tpEfficiency: Record<number, number>;
  /**
   * Half-saturation load: utilisation with n sequences in flight is n / (n + K). The guide's figures
   * (TP=4: ~6 % at 16 in flight, ~80 % at 1,152) give K ≈ 250.
   */
  halfSaturationSequences: number;
  /** Sequences one GPU's KV cache holds; a batch larger than TP × this runs in waves. */
  maxSequencesPerGpu: number;
  /** Extra time of a batch for its slowest sequences, as a fraction of the batch's mean time. */
  tailFraction: number;
}

export interface StageRates {
  generation: GenerationRates;
  /** Rollouts/s one proof GPU proves. */
  proofRolloutsPerSecondPerGpu: number;
  /** Seconds to score one group (16 completions) on one coordinator core. */
  rewardSecondsPerGroup: number;
  /** Cores scoring groups in parallel. */
  rewardCores: number;
  /** Coordinator thread time per rollout: binding + challenge signatures, packaging. */
  packagingSecondsPerRollout: number;
  /** Window file serialisation per row plus upload per row (bytes / bandwidth). */
  uploadSecondsPerRollout: number;
  /** Fixed cost of an upload (connection, HEAD check). */
  uploadFixedSeconds: number;
  /** Checkpoint switch at the start of a window (weight sync and proof reload). */
  checkpointSwitchSeconds: number;
  blockSeconds: number;
  safetyBlocks: number;
  /** Validator slack before the next window's first block (4 s). */
  deadlineSlackSeconds: number;
  /**
   * Contention factor of a proof worker sharing its GPU with generation (≥ 1): its proof rate is
   * divided by it, and generation loses the proof work's GPU-seconds times it. Needed by layouts
   * with co-located proof workers; measured by scripts/bench/proof/device-colocation.sh.
   */
  colocatedProofContention?: number;
}

export interface Layout {
  /** Generation tensor parallelism: GPUs of one generation replica. */
  tp: number;
  /** Generation replicas (data parallelism), each of `tp` GPUs; default 1. */
  dp?: number;
  /** GPUs that only prove, one worker each. */
  proofGpus: number;
  /** Proof workers on generation GPUs, one per GPU at most, spread over the replicas; default 0. */
  colocatedProofs?: number;
  groupsPerBatch: number;
  /** Groups in reward/proof before generation waits; default 2 × groupsPerBatch (the engine's). */
  maxPendingGroups?: number;
}

/** A layout the model cannot simulate (co-located proofs without a contention factor, …). */
export class LayoutError extends MiningError {}

/** GPUs a layout occupies: the generation replicas' and the dedicated proof GPUs. */
export function layoutGpus(layout: Layout): number {
  return layout.tp * (layout.dp ?? 1) + layout.proofGpus;
}

export interface WindowPrediction {
  rollouts: number;
  groups: number;
  batches: number;
  /** Groups generated but finished after the seal (wasted). */
  lateGroups: number;
  /** Share of the window each side was busy. */
  generationBusy: number;
  proofBusy: number;
  /** The stage that limits throughput. */
  bottleneck: "generation" | "proofs" | "coordinator";
  /** Steady rollouts/s while generating (packaged rollouts over the mining span). */
  steadyRolloutsPerSecond: number;
  /** Rollouts the proof workers proved in the window, late ones included. */
  provedRollouts: number;
  /** Generation time without co-located proofs over the time it took (1: nothing taken from it). */
  generationSpeed: number;
}

const EMA = 0.2;

function tpEfficiency(rates: GenerationRates, tp: number): number {
  const known = Object.keys(rates.tpEfficiency)
    .map(Number)
    .sort((a, b) => a - b);
  if (rates.tpEfficiency[tp] !== undefined) return rates.tpEfficiency[tp]!;
  const lower = known.filter((k) => k < tp).pop() ?? known[0]!;
  const upper = known.find((k) => k > tp) ?? known[known.length - 1]!;
  if (lower === upper) return rates.tpEfficiency[lower]!;
  const f = (tp - lower) / (upper - lower);
  return rates.tpEfficiency[lower]! * (1 - f) + rates.tpEfficiency[upper]! * f;
}

/** Rollouts/s of the server with `inFlight` sequences. */
export function generationRate(rates: GenerationRates, tp: number, inFlight: number): number {
  const peak = rates.peakRolloutsPerSecondTp1 * tp * tpEfficiency(rates, tp);
  const n = Math.min(inFlight, tp * rates.maxSequencesPerGpu);
  return (peak * n) / (n + rates.halfSaturationSequences);
}

/**
 * Seconds one generate call of `groups` groups takes on `dp` replicas of TP=`tp`: each replica an
 * independent server with its share, groups / dp, of the call.
 */
export function batchSeconds(rates: GenerationRates, tp: number, groups: number, dp = 1): number {
  const n = (groups * ROLLOUTS_PER_PROBLEM) / dp;
  return (n / generationRate(rates, tp, n)) * (1 + rates.tailFraction);
}

interface ProofWorker {
  /** Seconds one group takes on it. */
  groupSeconds: number;
  /** The generation replica whose GPU it shares, or null on a dedicated proof GPU. */
  replica: number | null;
}

/** Dedicated workers first (the pool prefers the first of equally loaded workers), then co-located. */
function proofWorkers(layout: Layout, rates: StageRates): ProofWorker[] {
  const dp = layout.dp ?? 1;
  const colocated = layout.colocatedProofs ?? 0;
  const where = `TP=${layout.tp} × DP=${dp} + ${layout.proofGpus} proof GPUs + ${colocated} co-located`;
  for (const [name, v, min] of [
    ["tp", layout.tp, 1],
    ["dp", dp, 1],
    ["proofGpus", layout.proofGpus, 0],
    ["colocatedProofs", colocated, 0],
    ["groupsPerBatch", layout.groupsPerBatch, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min) {
      throw new LayoutError(`${where}: ${name} must be an integer of at least ${min}, got ${v}`, {
        [name]: v,
      });
    }
  }
  if (layout.proofGpus + colocated === 0) {
    throw new LayoutError(`${where}: no proof worker; give it proof GPUs or co-located proof workers`);
  }
  if (colocated > layout.tp * dp) {
    throw new LayoutError(
      `${where}: at most one proof worker per generation GPU (${layout.tp * dp}), got ${colocated}`,
      { colocatedProofs: colocated },
    );
  }
  const f = rates.colocatedProofContention;
  if (colocated > 0 && (f === undefined || !Number.isFinite(f) || f < 1)) {
    throw new LayoutError(
      `${where}: co-located proof workers need colocatedProofContention, a factor of at least 1 (got ${f}); ` +
        "measure it with scripts/bench/proof/device-colocation.sh",
      { colocatedProofContention: f },
    );
  }
  const seconds = ROLLOUTS_PER_PROBLEM / rates.proofRolloutsPerSecondPerGpu;
  return [
    ...Array.from({ length: layout.proofGpus }, () => ({ groupSeconds: seconds, replica: null })),
    ...Array.from({ length: colocated }, (_, i) => ({ groupSeconds: seconds * f!, replica: i % dp })),
  ];
}

interface Carry {
  batchEma: number | null;
  uploadEma: number | null;
}

/**
 * Simulates `windows` consecutive windows (EMAs carried over, as in the miner) and returns the
 * prediction for the last one, the steady state.
 */
export function simulateWindows(layout: Layout, rates: StageRates, windows = 4): WindowPrediction {
  const carry: Carry = { batchEma: null, uploadEma: null };
  let last: WindowPrediction | null = null;
  for (let w = 0; w < windows; w++) last = simulateWindow(layout, rates, carry);
  return last!;
}

function simulateWindow(layout: Layout, rates: StageRates, carry: Carry): WindowPrediction {
  const B = rates.blockSeconds;
  const S = rates.safetyBlocks;
  const end = WINDOW_LENGTH * B;
  const deadline = end - rates.deadlineSlackSeconds;
  const maxPending = layout.maxPendingGroups ?? 2 * layout.groupsPerBatch;
  const dp = layout.dp ?? 1;
  const workers = proofWorkers(layout, rates);
  const proofFree = new Array<number>(workers.length).fill(rates.checkpointSwitchSeconds);
  let genUnslowed = 0;
  const rewardFree = new Array<number>(Math.max(1, rates.rewardCores)).fill(0);
  let coordinatorFree = 0;
  let t = rates.checkpointSwitchSeconds;
  let genBusy = 0;
  let proofBusy = 0;
  const groupDone: { returned: number; done: number }[] = [];
  const batchDone: { at: number; latency: number }[] = [];
  let batches = 0;

  const upload = (rows: number) => rates.uploadFixedSeconds + rows * rates.uploadSecondsPerRollout;
  const emaAt = (time: number) => {
    // Batches completed before `time` feed the EMA in completion order.
    let g = carry.batchEma;
    for (const b of batchDone.filter((x) => x.at <= time).sort((a, b2) => a.at - b2.at)) {
      g = g === null ? b.latency : EMA * Math.min(b.latency, end) + (1 - EMA) * g;
    }
    return g;
  };
  const seal = () => deadline - (carry.uploadEma ?? B) - B;

  for (;;) {
    const G = emaAt(t) ?? 6 * B;
    const U = carry.uploadEma ?? B;
    const block = Math.floor(t / B);
    // TimeBudget.groupsThatFit: the full batch, else halves of it down to one group.
    let size = 0;
    for (let k = layout.groupsPerBatch; k >= 1; k = k === 1 ? 0 : Math.max(1, Math.floor(k / 2))) {
      const g = G * (k / layout.groupsPerBatch);
      const needed = Math.min(WINDOW_LENGTH - 1, Math.max(1, Math.ceil((g + U + S * B) / B)));
      if (WINDOW_LENGTH - block > needed) {
        size = k;
        break;
      }
    }
    if (size === 0 || t >= seal()) break;
    const pending = groupDone.filter((g) => g.returned <= t && g.done > t).map((g) => g.done);
    if (pending.length >= maxPending) {
      pending.sort((a, b) => a - b);
      t = pending[pending.length - maxPending]!;
      continue;
    }
    const dispatched = t;
    const base = batchSeconds(rates.generation, layout.tp, size, dp);
    // A replica waits out the proving still queued on its co-located workers.
    const stall = new Array<number>(dp).fill(0);
    workers.forEach((w, i) => {
      if (w.replica !== null) stall[w.replica] = Math.max(stall[w.replica]!, proofFree[i]! - t);
    });
    const genSeconds = base + Math.max(...stall);
    t += genSeconds;
    genBusy += genSeconds;
    genUnslowed += base;
    batches++;
    let latest = t;
    for (let g = 0; g < size; g++) {
      const finish = (k: number) => Math.max(t, proofFree[k]!) + workers[k]!.groupSeconds;
      let worker = 0;
      for (let i = 1; i < workers.length; i++) if (finish(i) < finish(worker)) worker = i;
      const proofStart = Math.max(t, proofFree[worker]!);
      const proofSeconds = workers[worker]!.groupSeconds;
      proofFree[worker] = proofStart + proofSeconds;
      proofBusy += proofSeconds;
      const core = rewardFree.indexOf(Math.min(...rewardFree));
      rewardFree[core] = Math.max(t, rewardFree[core]!) + rates.rewardSecondsPerGroup;
      const ready = Math.max(proofFree[worker]!, rewardFree[core]!);
      coordinatorFree =
        Math.max(ready, coordinatorFree) + ROLLOUTS_PER_PROBLEM * rates.packagingSecondsPerRollout;
      groupDone.push({ returned: t, done: coordinatorFree });
      latest = Math.max(latest, coordinatorFree);
    }
    batchDone.push({ at: latest, latency: (latest - dispatched) * (layout.groupsPerBatch / size) });
  }

  const sealAt = seal();
  const inTime = groupDone.filter((g) => g.done <= sealAt);
  const lastDone = Math.max(t, ...inTime.map((g) => g.done));
  const publishAt = Math.min(sealAt, lastDone);
  const rows = inTime.length * ROLLOUTS_PER_PROBLEM;
  const u = upload(rows);
  carry.uploadEma = carry.uploadEma === null ? u : EMA * u + (1 - EMA) * carry.uploadEma;
  carry.batchEma = emaAt(Number.POSITIVE_INFINITY);
  const uploaded = publishAt + u <= deadline ? rows : 0;
  const span = Math.max(1e-9, publishAt - rates.checkpointSwitchSeconds);
  const genShare = genBusy / end;
  const proofShare = proofBusy / (end * workers.length);
  const coordShare = (groupDone.length * ROLLOUTS_PER_PROBLEM * rates.packagingSecondsPerRollout) / end;
  const top = Math.max(genShare, proofShare, coordShare);
  return {
    rollouts: uploaded,
    groups: uploaded / ROLLOUTS_PER_PROBLEM,
    batches,
    lateGroups: groupDone.length - inTime.length,
    generationBusy: Math.min(1, genShare),
    // Above 1 the proof side is still busy after the window: capped, the bottleneck says so.
    proofBusy: Math.min(1, proofShare),
    bottleneck: top === genShare ? "generation" : top === proofShare ? "proofs" : "coordinator",
    steadyRolloutsPerSecond: uploaded / span,
    provedRollouts: groupDone.length * ROLLOUTS_PER_PROBLEM,
    generationSpeed: genBusy > 0 ? genUnslowed / genBusy : 1,
  };
}

export interface Recommendation {
  layout: Layout;
  prediction: WindowPrediction;
}

/**
 * Every layout of `gpus` GPUs (one generation server of TP ∈ {1, 2, 4, 8}, the rest proving) with
 * each GROUPS_PER_BATCH candidate, best first.
 */
export function rankLayouts(
  gpus: number,
  rates: StageRates,
  groupsPerBatch: readonly number[] = [1, 4, 8, 16, 24, 32, 48, 72, 96, 128],
): Recommendation[] {
  const out: Recommendation[] = [];
  for (const tp of [1, 2, 4, 8]) {
    const proofGpus = gpus - tp;
    if (proofGpus < 1) continue;
    for (const gpb of groupsPerBatch) {
      const layout = { tp, proofGpus, groupsPerBatch: gpb };
      out.push({ layout, prediction: simulateWindows(layout, rates) });
    }
  }
  return out.sort((a, b) => b.prediction.rollouts - a.prediction.rollouts);
}

/**
 * Stage rates of the reference's 8×A100 SXM4 / Qwen2.5-7B run as the specs give them: SGLang TP=4
 * reaches 12.44 rollouts/s steady at GROUPS_PER_BATCH=72, 97 % of its ceiling (12.83 r/s at 1,152 in
 * flight); ~5 rollouts/s per HF proof GPU; weight sync 3–30 s per checkpoint; 12 s blocks.
 */
export function referenceA100Rates(): StageRates {
  const halfSaturationSequences = 250;
  const ceilingTp4 = 12.44 / 0.97;
  const tpEfficiency = { 1: 1, 2: 0.9, 4: 0.8, 8: 0.65 };
  const utilisation = 1152 / (1152 + halfSaturationSequences);
  return {
    generation: {
      peakRolloutsPerSecondTp1: ceilingTp4 / utilisation / (4 * tpEfficiency[4]),
      tpEfficiency,
      halfSaturationSequences,
      maxSequencesPerGpu: 512,
      tailFraction: 0,
    },
    proofRolloutsPerSecondPerGpu: 5,
    rewardSecondsPerGroup: 0.05,
    rewardCores: 8,
    packagingSecondsPerRollout: 0.0006,
    uploadSecondsPerRollout: 0.0009 + 30_000 / 50e6,
    uploadFixedSeconds: 1,
    checkpointSwitchSeconds: 10,
    blockSeconds: BLOCK_TIME_SECONDS,
    safetyBlocks: 3,
    deadlineSlackSeconds: 4,
  };
}
