// What each profiled stage of one prove() must at least compute and move, so a stage time becomes a
// rate (TFLOP/s for GEMMs and attention, GB/s for the memory-bound kernels) to hold against the measured
// ceilings. FLOPs follow benchlib.py's rollout_flops (the test checks that they agree).
import type { EngineProfile, ProfileStageName } from "../../../packages/engine-native/src/index.js";

/** Model dimensions as workload.json carries them (benchlib.ModelDims.to_json). */
export interface ModelDims {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  tied: boolean;
}

export interface BatchRollout {
  tokens: readonly number[];
  promptLen: number;
}

export interface StageWork {
  flops: number;
  bytes: number;
}

export interface BreakdownRow {
  name: ProfileStageName | "unattributed";
  ms: number;
  /** Share of the call's GPU span. */
  percent: number;
  calls: number;
  flops: number;
  bytes: number;
  tflops: number | null;
  gbps: number | null;
}

/** Minimum FLOPs and device bytes of every stage for one batch (bf16 activations, 2 bytes a value). */
export function stageWork(d: ModelDims, batch: readonly BatchRollout[]): Record<ProfileStageName, StageWork> {
  const H = d.hidden;
  const I = d.intermediate;
  const L = d.layers;
  const qd = d.heads * d.headDim;
  const kvd = d.kvHeads * d.headDim;
  const qkvd = qd + 2 * kvd;
  let T = 0;
  let rows = 0;
  let causal = 0; // Σ n(n+1) over sequences
  for (const r of batch) {
    const n = r.tokens.length;
    T += n;
    rows += n - r.promptLen;
    causal += n * (n + 1);
  }
  const n = batch.length;
  const gemm = (m: number, k: number, nOut: number): StageWork => ({
    flops: 2 * m * k * nOut * L,
    // Read the activations and the weights once, write the output once.
    bytes: 2 * (m * k + k * nOut + m * nOut) * L,
  });
  const lmRows = rows;
  return {
    embedding: { flops: 0, bytes: 4 * T * H + 4 * T },
    // The first layer's input norm; every later norm is fused with the residual add before it.
    rmsnorm: { flops: 0, bytes: 4 * T * H },
    gemm_qkv: gemm(T, H, qkvd),
    rope: { flops: 0, bytes: 4 * T * (qd + kvd) * L },
    attention: { flops: 2 * L * qd * causal, bytes: 2 * T * (qkvd + qd) * L },
    gemm_o: gemm(T, qd, H),
    // h and the GEMM output read, h and the normalised row written, twice a layer.
    residual_norm: { flops: 0, bytes: 8 * T * H * 2 * L },
    gemm_gate_up: gemm(T, H, 2 * I),
    silu_mul: { flops: 0, bytes: 6 * T * I * L },
    gemm_down: gemm(T, I, H),
    sketch: { flops: 0, bytes: 2 * T * H + 4 * T },
    gather_rows: { flops: 0, bytes: 4 * lmRows * H },
    gemm_lm_head: {
      flops: 2 * lmRows * H * d.vocab,
      bytes: 2 * (lmRows * H + H * d.vocab + lmRows * d.vocab),
    },
    logit_reduce: { flops: 0, bytes: 2 * lmRows * d.vocab },
    copy_h2d: { flops: 0, bytes: 8 * T + 4 * (n + 1) + 24 * lmRows },
    copy_d2h: { flops: 0, bytes: 4 * T + 4 * rows + 8 * n },
  };
}

/** The profile as a table: stages by GPU time with their rates, and the span no stage accounts for. */
export function breakdown(
  profile: EngineProfile,
  d: ModelDims,
  batch: readonly BatchRollout[],
): BreakdownRow[] {
  const work = stageWork(d, batch);
  const span = profile.gpuMs;
  const rows: BreakdownRow[] = profile.stages.map((s) => {
    const w = work[s.name];
    const seconds = s.ms / 1000;
    return {
      name: s.name,
      ms: s.ms,
      percent: span > 0 ? (100 * s.ms) / span : 0,
      calls: s.calls,
      flops: w.flops,
      bytes: w.bytes,
      tflops: w.flops > 0 && seconds > 0 ? w.flops / seconds / 1e12 : null,
      gbps: w.bytes > 0 && seconds > 0 ? w.bytes / seconds / 1e9 : null,
    };
  });
  rows.push({
    name: "unattributed",
    ms: profile.unattributedMs,
    percent: span > 0 ? (100 * profile.unattributedMs) / span : 0,
    calls: 0,
    flops: 0,
    bytes: 0,
    tflops: null,
    gbps: null,
  });
  return rows.sort((a, b) => b.ms - a.ms);
}
