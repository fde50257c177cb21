import type { SamplingPolicy } from "@grail/generation";
import { MAX_NEW_TOKENS_PROTOCOL_CAP, ProtocolViolationError } from "@grail/protocol";
import { type CheckpointMetadata, missingMetadataFields } from "@grail/storage";

/** The window's environment and sampling policy, read from the checkpoint's metadata. */
export interface WindowTask {
  envId: string;
  envParams: Record<string, unknown>;
  thinkingMode: "native" | "instructed";
  policy: SamplingPolicy;
}

const PY_INT_TEXT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;
const PY_FLOAT_TEXT =
  /^\s*[+-]?(?:(?:\d+(?:_\d+)*\.?(?:\d+(?:_\d+)*)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)\s*$/i;

function violation(field: string, value: unknown, rule: string): never {
  throw new ProtocolViolationError(
    `checkpoint generation_params.${field}=${JSON.stringify(value)} ${rule}; the trainer's publish is malformed, so this window is skipped`,
    { field, value },
  );
}

/** Python `int(x)`: floats truncate toward zero, integer strings parse, anything else raises. */
function pyInt(field: string, value: unknown): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) violation(field, value, "is not a finite number");
    return Math.trunc(value);
  }
  if (typeof value === "string" && PY_INT_TEXT.test(value)) return Number(value.replaceAll("_", "").trim());
  return violation(field, value, "is not an integer");
}

/** Python `float(x)` for JSON values. */
function pyFloat(field: string, value: unknown): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") return value;
  if (typeof value === "string" && PY_FLOAT_TEXT.test(value)) {
    const t = value.replaceAll("_", "").trim().toLowerCase();
    if (t.endsWith("nan")) return Number.NaN;
    if (t.endsWith("inf") || t.endsWith("infinity")) return t.startsWith("-") ? -Infinity : Infinity;
    return Number(t);
  }
  return violation(field, value, "is not a number");
}

function inRange(field: string, value: number, lo: number, hi: number): number {
  // NaN fails both comparisons, as in Python.
  if (!(value >= lo && value <= hi)) violation(field, value, `is outside [${lo}, ${hi}]`);
  return value;
}

/**
 * `GenerationParams.from_checkpoint_metadata` (spec/miner-pipeline.md §3.5): the trainer's
 * generation_params converted with Python's coercions and range checks. Every violation throws
 * ProtocolViolationError, which skips the window cleanly.
 */
export function samplingPolicyFromMetadata(params: unknown): SamplingPolicy {
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new ProtocolViolationError("checkpoint generation_params is not an object; the window is skipped", {
      params,
    });
  }
  const p = params as Record<string, unknown>;
  if (!("max_tokens" in p)) violation("max_tokens", undefined, "is missing");
  const maxTokens = pyInt("max_tokens", p.max_tokens);
  if (maxTokens <= 0) violation("max_tokens", p.max_tokens, "must be > 0");
  const temperature = inRange("temperature", pyFloat("temperature", p.temperature), 0.01, 2.0);
  const topP = inRange("top_p", pyFloat("top_p", p.top_p), 0, 1);
  const topK = inRange("top_k", pyInt("top_k", p.top_k), 0, 1000);
  const repetitionPenalty = inRange(
    "repetition_penalty",
    pyFloat("repetition_penalty", p.repetition_penalty),
    1,
    2,
  );
  return {
    maxNewTokens: Math.min(maxTokens, MAX_NEW_TOKENS_PROTOCOL_CAP),
    temperature,
    topP,
    topK: topK === 0 ? null : topK,
    repetitionPenalty,
  };
}

/**
 * What a window needs from the checkpoint's metadata (§3.5): required fields present
 * (`validate_metadata`), then the sampling policy. Throws ProtocolViolationError naming every
 * missing field, or the first malformed value.
 */
export function windowTaskFromMetadata(meta: CheckpointMetadata): WindowTask {
  const missing = missingMetadataFields(meta);
  if (missing.length > 0) {
    throw new ProtocolViolationError(
      `checkpoint ${meta.window} metadata lacks ${missing.join(", ")}; the window is skipped until the trainer publishes a complete checkpoint`,
      { checkpointWindow: meta.window, missing },
    );
  }
  return {
    envId: meta.env_id as string,
    envParams: { ...meta.env_params },
    thinkingMode: meta.thinking_mode as "native" | "instructed",
    policy: samplingPolicyFromMetadata(meta.generation_params),
  };
}
