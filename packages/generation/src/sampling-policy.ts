import { MAX_NEW_TOKENS_PROTOCOL_CAP } from "@grail/protocol";
import { GenerationConfigError } from "./errors.js";
import type { SamplingPolicy } from "./types.js";

/** `min(max_tokens, MAX_NEW_TOKENS_PROTOCOL_CAP)`: the length a validator expects of a non-EOS rollout. */
export function effectiveMaxNewTokens(maxNewTokens: number): number {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens <= 0) {
    throw new GenerationConfigError(
      `max_new_tokens must be a positive integer, got ${maxNewTokens}; check the checkpoint's generation_params`,
      { maxNewTokens },
    );
  }
  return Math.min(maxNewTokens, MAX_NEW_TOKENS_PROTOCOL_CAP);
}

/**
 * Whether a prompt may be sent: the whole completion budget must fit the server context. A partial
 * clamp would produce a completion shorter than the validator's expected length without an EOS, so
 * the prompt is skipped instead (all or nothing).
 */
export function fitsContext(promptLen: number, maxNewTokens: number, maxModelLen: number): boolean {
  const room = maxModelLen - promptLen;
  return room > 0 && maxNewTokens <= room;
}

/**
 * The validator's termination rule without the EOS-probability part (that one needs the model):
 * a completion is acceptable when it has exactly the expected length or ends in the EOS id.
 */
export function terminationAcceptable(
  outputIds: readonly number[],
  maxNewTokens: number,
  eosTokenId: number,
): boolean {
  if (outputIds.length === effectiveMaxNewTokens(maxNewTokens)) return true;
  return outputIds.length > 0 && outputIds[outputIds.length - 1] === eosTokenId;
}

export function validateSamplingPolicy(policy: SamplingPolicy): void {
  effectiveMaxNewTokens(policy.maxNewTokens);
  const bad = (field: string, value: unknown, allowed: string) => {
    throw new GenerationConfigError(`sampling ${field}=${String(value)} is outside ${allowed}`, {
      field,
      value,
    });
  };
  if (!(policy.temperature >= 0)) bad("temperature", policy.temperature, "[0, ∞)");
  if (!(policy.topP >= 0 && policy.topP <= 1)) bad("top_p", policy.topP, "[0, 1]");
  if (policy.topK !== null && !(Number.isInteger(policy.topK) && policy.topK >= 0)) {
    bad("top_k", policy.topK, "non-negative integers");
  }
  if (policy.repetitionPenalty !== null && !(policy.repetitionPenalty > 0)) {
    bad("repetition_penalty", policy.repetitionPenalty, "(0, ∞)");
  }
}
