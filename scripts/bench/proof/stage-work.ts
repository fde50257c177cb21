// What each profiled stage of one prove() must at least compute and move, so a stage time becomes a
// rate (TFLOP/s for GEMMs and attention, GB/s for the memory-bound kernels) to hold against the measured
// ceilings. Without prompt sharing the FLOPs are benchlib.py's rollout_flops (the test checks that they
// agree); with it (the engine's default) they are what the engine computes: each distinct prompt once.
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

/**
 * The rows a forward pass computes for a batch and the causal (query, key) pairs its attention scores:
 * with sharedPrompts, rollouts with equal prompts compute that prompt once (the CUDA backend's layout).
 */
export function computedLayout(
  batch: readonly BatchRollout[],
  sharedPrompts = true,
): { rows: number; pairs: number; completionRows: number } {
  const seen = new Set<string>();
  let rows = 0;
  let pairs = 0;
  let completionRows = 0;
  const span = (from: number, to: number) => (to * (to + 1) - from * (from + 1)) / 2; // Σ (p+1), p in [from, to)
  for (const r of batch) {
    const n = r.tokens.length;
    let from = 0;
    if (sharedPrompts && r.promptLen > 0) {
      const P = Math.min(r.promptLen, n);
      const key = `${P}:${Array.prototype.slice.call(r.tokens, 0, P).join(",")}`;
      if (!seen.has(key)) {
        seen.add(key);
        rows += P;
        pairs += span(0, P);
      }
      from = P;
    }
    rows += n - from;
    pairs += span(from, n);
    completionRows += n - r.promptLen;
  }
  return { rows, pairs, completionRows };
}

/**
 * Minimum FLOPs and device bytes of every stage for one batch (bf16 activations, 2 bytes a value), for
 * the rows the engine computes (sharedPrompts, the default) or for every rollout computed whole.
 */
export function stageWork(
  d: ModelDims,
  batch: readonly BatchRollout[],
  { sharedPrompts = true }: { sharedPrompts?: boolean } = {},
): Record<ProfileStageName, StageWork> {
  const H = d.hidden;
  const I = d.intermediate;
  const L = d.layers;
  const qd = d.heads * d.headDim;
  const kvd = d.kvHeads * d.headDim;
  const qkvd = qd + 2 * kvd;
  const layout = computedLayout(batch, sharedPrompts);
  const T = layout.rows;
  const rows = layout.completionRows;
  const causal = 2 * layout.pairs; // Σ n(n+1) over sequences computed whole
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
