import { MAX_NEW_TOKENS_PROTOCOL_CAP } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import {
  effectiveMaxNewTokens,
  fitsContext,
  GenerationConfigError,
  terminationAcceptable,
  validateSamplingPolicy,
} from "../src/index.js";

describe("sampling policy", () => {
  it("clamps max_new_tokens to the protocol cap and rejects non-positive values", () => {
    expect(effectiveMaxNewTokens(2048)).toBe(2048);
    expect(effectiveMaxNewTokens(16384)).toBe(MAX_NEW_TOKENS_PROTOCOL_CAP);
    expect(() => effectiveMaxNewTokens(0)).toThrow(GenerationConfigError);
    expect(() => effectiveMaxNewTokens(1.5)).toThrow(GenerationConfigError);
  });

  it("skips a prompt unless its whole budget fits (spec §4.3 boundary examples)", () => {
    expect(fitsContext(10240, 2048, 12288)).toBe(true);
    expect(fitsContext(10241, 2048, 12288)).toBe(false);
    expect(fitsContext(12288, 1, 12288)).toBe(false);
    expect(fitsContext(0, 12288, 12288)).toBe(true);
  });

  it("accepts a completion of exactly the expected length or ending in EOS", () => {
    expect(terminationAcceptable([1, 2, 3], 3, 9)).toBe(true);
    expect(terminationAcceptable([1, 9], 3, 9)).toBe(true);
    expect(terminationAcceptable([1, 8], 3, 9)).toBe(false);
    expect(terminationAcceptable([], 3, 9)).toBe(false);
  });

  it("validates the ranges the server would reject", () => {
    const ok = { maxNewTokens: 10, temperature: 0.7, topP: 0.9, topK: 50, repetitionPenalty: 1 };
    expect(() => validateSamplingPolicy(ok)).not.toThrow();
    expect(() => validateSamplingPolicy({ ...ok, topP: 1.5 })).toThrow(/top_p/);
    expect(() => validateSamplingPolicy({ ...ok, topK: -1 })).toThrow(/top_k/);
    expect(() => validateSamplingPolicy({ ...ok, temperature: Number.NaN })).toThrow(/temperature/);
  });
});
