import { MAX_NEW_TOKENS_PROTOCOL_CAP } from "@grail/protocol";
import { type ParsedConfig, parseModelConfig, readModelConfig } from "./config.js";
import { EngineError } from "./errors.js";
import type { RolloutInput } from "./model.js";
import { loadAddon } from "./native.js";

/**
 * Device memory the CUDA backend holds once it has proved a batch (the largest it has seen: its
 * buffers keep their capacity). Computed by the addon from the same sizes the backend allocates with
 * (native/common/memory_plan.h), so it needs no GPU. Not included: the CUDA context and cuBLASLt's
 * kernels (a few hundred MiB a process, driver-dependent) and the allocator's rounding.
 */
export interface ProofMemoryNeed {
  weightsBytes: number;
  /** Activations of the computed rows, row plans, rope tables, the lm_head chunk, proof outputs. */
  activationBytes: number;
  /** The cuBLASLt workspace. */
  workspaceBytes: number;
  totalBytes: number;
  /** The batch the figures are for. */
  batch: {
    rollouts: number;
    tokens: number;
    /** Rows the forward pass computes: a prompt shared by rollouts counted once. */
    rowsComputed: number;
    /** Rows through lm_head: the completion positions. */
    logitRows: number;
    sharedPrompts: boolean;
  };
}

/** A group of rollouts of equal length sharing one prompt: what a proof worker gets per engine call. */
export interface ProofGroupShape {
  /** Rollouts per engine call; the worker proves one group of 16 a call. Default 16. */
  rollouts?: number;
  /** Tokens of each rollout, prompt included: the longest the miner lets through, GRAIL_PIPELINE_MAX_MODEL_LEN. */
  tokensPerRollout: number;
  /**
   * The group's prompt, computed once. Default: the layout with the most rows, the longest completion
   * the protocol allows (MAX_NEW_TOKENS_PROTOCOL_CAP, at most tokensPerRollout − 1) after the prompt
   * that fills the rest.
   */
  promptTokens?: number;
  /** Whether equal prompts are computed once, as the engine does unless GRAIL_ENGINE_SHARE_PROMPTS=0. Default true. */
  sharePrompts?: boolean;
}

/** A model directory (config.json inside) or the parsed contents of a config.json. */
export type ModelConfigSource = string | Record<string, unknown>;

/** Tokens of one memory query at most: the batch is built in host memory to lay it out. */
const MAX_BATCH_TOKENS = 2 ** 28;

function configOf(source: ModelConfigSource): ParsedConfig {
  return typeof source === "string" ? readModelConfig(source) : parseModelConfig(source, "model config");
}

function wholeNumber(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new EngineError(
      "invalid_input",
      `${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`,
      { [name]: v },
    );
  }
  return v;
}

function measure(config: ParsedConfig, batch: readonly RolloutInput[], share: boolean): ProofMemoryNeed {
  let total = 0;
  batch.forEach((r, i) => {
    wholeNumber(r.tokens.length, `rollout ${i}'s length`, 2, MAX_BATCH_TOKENS);
    wholeNumber(r.promptLen, `rollout ${i}'s promptLen`, 1, r.tokens.length - 1);
    total += r.tokens.length;
  });
  if (total > MAX_BATCH_TOKENS) {
    throw new EngineError("invalid_input", `a batch of ${total} tokens is over ${MAX_BATCH_TOKENS}`, {
      total,
    });
  }
  const tokens = new Int32Array(total);
  const offsets = new Float64Array(batch.length + 1);
  let at = 0;
  batch.forEach((r, i) => {
    tokens.set(r.tokens, at);
    at += r.tokens.length;
    offsets[i + 1] = at;
  });
  const promptLens = Int32Array.from(batch, (r) => r.promptLen);
  const need = loadAddon().proofMemory(
    config.native,
    config.tieWordEmbeddings,
    tokens,
    offsets,
    promptLens,
    share,
  );
  return {
    weightsBytes: need.weightsBytes,
    activationBytes: need.activationBytes,
    workspaceBytes: need.workspaceBytes,
    totalBytes: need.totalBytes,
    batch: {
      rollouts: batch.length,
      tokens: total,
      rowsComputed: need.rows,
      logitRows: need.logitRows,
      sharedPrompts: share,
    },
  };
}

/**
 * The prompt of the group with the most rows for rollouts of `tokensPerRollout` tokens: what is left
 * after the longest completion the protocol allows (at least one token).
 */
export function defaultPromptTokens(tokensPerRollout: number): number {
  return tokensPerRollout - Math.min(tokensPerRollout - 1, MAX_NEW_TOKENS_PROTOCOL_CAP);
}

/**
 * Device memory a proof worker's CUDA backend needs for its largest batch: one group of `rollouts`
 * rollouts of `tokensPerRollout` tokens sharing a prompt.
 */
export function proofMemoryNeed(source: ModelConfigSource, shape: ProofGroupShape): ProofMemoryNeed {
  const config = configOf(source);
  const rollouts = wholeNumber(shape.rollouts ?? 16, "rollouts", 1, 65_536);
  const len = wholeNumber(shape.tokensPerRollout, "tokensPerRollout", 2, MAX_BATCH_TOKENS);
  const prompt = wholeNumber(shape.promptTokens ?? defaultPromptTokens(len), "promptTokens", 1, len - 1);
  if (rollouts * len > MAX_BATCH_TOKENS) {
    throw new EngineError(
      "invalid_input",
      `${rollouts} rollouts of ${len} tokens are over ${MAX_BATCH_TOKENS} tokens`,
      { rollouts, tokensPerRollout: len },
    );
  }
  // Token values do not change the layout; equal prompts (all zeros here) are what sharing looks for.
  const tokens = new Int32Array(len);
  const group = Array.from({ length: rollouts }, () => ({ tokens, promptLen: prompt }));
  return measure(config, group, shape.sharePrompts ?? true);
}

/** The same for a given batch (one engine call), e.g. a benchmark's largest group. */
export function batchMemoryNeed(
  source: ModelConfigSource,
  batch: readonly RolloutInput[],
  options: { sharePrompts?: boolean } = {},
): ProofMemoryNeed {
  if (batch.length === 0) throw new EngineError("invalid_input", "the batch is empty");
  return measure(configOf(source), batch, options.sharePrompts ?? true);
}
