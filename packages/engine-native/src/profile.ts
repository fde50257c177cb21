import { EngineError } from "./errors.js";

/** Kernel families the CUDA backend times, in pipeline order (native/cuda/profiler.h). */
export const PROFILE_STAGES = [
  "embedding",
  "rmsnorm",
  "gemm_qkv",
  "rope",
  "attention",
  "gemm_o",
  "residual_norm",
  "gemm_gate_up",
  "silu_mul",
  "gemm_down",
  "sketch",
  "gather_rows",
  "gemm_lm_head",
  "logit_reduce",
  "copy_h2d",
  "copy_d2h",
] as const;

export type ProfileStageName = (typeof PROFILE_STAGES)[number];

export interface ProfileStage {
  name: ProfileStageName;
  /** GPU time between the events around the stage's kernels, summed over the call. */
  ms: number;
  /** How many times the stage ran in the call (per layer, per logits chunk, …). */
  calls: number;
}

/**
 * Where one prove() call spent its time, from the CUDA backend called with `profile` on.
 * Stage times come from CUDA events on the engine's stream; gpuMs spans the whole call on the
 * stream, so unattributedMs (gpuMs minus the stages) is launch gaps and host work the GPU waited for.
 */
export interface EngineProfile {
  /** Rows the forward pass computed: the batch's positions, a prompt shared by a group counted once. */
  tokens: number;
  sequences: number;
  /** Rows that went through lm_head and the logit reduction (completion positions). */
  logitRows: number;
  maxLen: number;
  /** Host wall time of the native call, from its start to the results being on the host. */
  wallMs: number;
  gpuMs: number;
  unattributedMs: number;
  stages: ProfileStage[];
  memory: {
    /** cudaMemGetInfo: all memory in use on the device at the end of the call (context included). */
    deviceUsedBytes: number;
    deviceTotalBytes: number;
    /** What the engine itself holds: weights, activations (grown to the largest batch), workspace. */
    engineBytes: number;
    weightBytes: number;
  };
}

function fail(what: string, raw: string): never {
  throw new EngineError("internal", `the engine's profile report is malformed (${what}); rebuild the addon`, {
    report: raw.slice(0, 200),
  });
}

function num(o: Record<string, unknown>, key: string, raw: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) fail(`${key} is ${JSON.stringify(v)}`, raw);
  return v;
}

/** Checks and types the JSON the addon returns for one profiled call. */
export function parseProfile(raw: string): EngineProfile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    fail("not JSON", raw);
  }
  if (typeof parsed !== "object" || parsed === null) fail("not an object", raw);
  const o = parsed as Record<string, unknown>;
  const stagesRaw = o.stages;
  if (!Array.isArray(stagesRaw)) fail("stages is not an array", raw);
  const known = new Set<string>(PROFILE_STAGES);
  const stages = stagesRaw.map((s: unknown): ProfileStage => {
    const st = (typeof s === "object" && s !== null ? s : {}) as Record<string, unknown>;
    if (typeof st.name !== "string" || !known.has(st.name)) fail(`unknown stage ${String(st.name)}`, raw);
    return { name: st.name as ProfileStageName, ms: num(st, "ms", raw), calls: num(st, "calls", raw) };
  });
  const mem = (
    typeof o.memory === "object" && o.memory !== null ? o.memory : fail("no memory", raw)
  ) as Record<string, unknown>;
  const gpuMs = num(o, "gpuMs", raw);
  const staged = stages.reduce((a, s) => a + s.ms, 0);
  return {
    tokens: num(o, "tokens", raw),
    sequences: num(o, "sequences", raw),
    logitRows: num(o, "logitRows", raw),
    maxLen: num(o, "maxLen", raw),
    wallMs: num(o, "wallMs", raw),
    gpuMs,
    // Event pairs bracket each stage, so the stages can sum past the span by a few microseconds.
    unattributedMs: Math.max(0, gpuMs - staged),
    stages,
    memory: {
      deviceUsedBytes: num(mem, "deviceUsedBytes", raw),
      deviceTotalBytes: num(mem, "deviceTotalBytes", raw),
      engineBytes: num(mem, "engineBytes", raw),
      weightBytes: num(mem, "weightBytes", raw),
    },
  };
}
