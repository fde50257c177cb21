import { UnknownEnvironmentError } from "@grail/environments";
import { ProtocolViolationError, WINDOW_LENGTH } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import {
  classifyWindowError,
  Ema,
  FatalMiningError,
  PipelineInitError,
  PoolStartError,
  samplingPolicyFromMetadata,
  TimeBudget,
  Watchdog,
  WindowSkippedError,
  windowTaskFromMetadata,
} from "../src/index.js";
import { checkpointMetadata, GEN_PARAMS } from "./mining-helpers.js";

describe("sampling policy from checkpoint metadata (spec §3.5)", () => {
  it("maps the trainer's params with Python's coercions, the protocol cap and top_k 0 → none", () => {
    expect(samplingPolicyFromMetadata(GEN_PARAMS)).toEqual({
      maxNewTokens: 64,
      temperature: 0.7,
      topP: 0.9,
      topK: 50,
      repetitionPenalty: 1,
    });
    const coerced = samplingPolicyFromMetadata({
      max_tokens: "10_000",
      temperature: "1.5",
      top_p: 1,
      top_k: 0,
      repetition_penalty: 2,
    });
    expect(coerced).toMatchObject({ maxNewTokens: 8192, temperature: 1.5, topK: null, repetitionPenalty: 2 });
    // int() truncates floats toward zero.
    expect(samplingPolicyFromMetadata({ ...GEN_PARAMS, max_tokens: 2048.9, top_k: 7.9 })).toMatchObject({
      maxNewTokens: 2048,
      topK: 7,
    });
  });

  it.each([
    ["not an object", [1, 2]],
    ["no max_tokens", { temperature: 0.7, top_p: 0.9, top_k: 50, repetition_penalty: 1 }],
    ["max_tokens 0", { ...GEN_PARAMS, max_tokens: 0 }],
    ["max_tokens text", { ...GEN_PARAMS, max_tokens: "lots" }],
    ["max_tokens float text", { ...GEN_PARAMS, max_tokens: "12.5" }],
    ["temperature too low", { ...GEN_PARAMS, temperature: 0.001 }],
    ["temperature NaN", { ...GEN_PARAMS, temperature: "nan" }],
    ["top_p above 1", { ...GEN_PARAMS, top_p: 1.01 }],
    ["top_k above 1000", { ...GEN_PARAMS, top_k: 1001 }],
    ["repetition_penalty below 1", { ...GEN_PARAMS, repetition_penalty: 0.9 }],
    ["missing temperature", { max_tokens: 8, top_p: 0.9, top_k: 50, repetition_penalty: 1 }],
  ])("refuses %s with ProtocolViolationError", (_name, params) => {
    expect(() => samplingPolicyFromMetadata(params)).toThrow(ProtocolViolationError);
  });

  it("names every missing metadata field before reading the policy", () => {
    const meta = checkpointMetadata(60, {
      env_id: null,
      thinking_mode: "loud",
      generation_params: { max_tokens: 8 },
    });
    const err = (() => {
      try {
        windowTaskFromMetadata(meta);
      } catch (e) {
        return e as ProtocolViolationError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(ProtocolViolationError);
    expect(err!.message).toMatch(/env_id/);
    expect(err!.message).toMatch(/thinking_mode/);
    expect(err!.message).toMatch(/generation_params\.temperature/);
    expect(windowTaskFromMetadata(checkpointMetadata(60))).toMatchObject({
      envId: "gsm8k",
      thinkingMode: "instructed",
      policy: { maxNewTokens: 64 },
    });
  });
});

describe("time budget (spec §3.6–3.7)", () => {
  it("EMAs start unset (or at the block time) and weigh new samples by 0.2", () => {
    const e = new Ema();
    expect(e.value).toBeNull();
    e.observe(10);
    expect(e.value).toBe(10);
    e.observe(20);
    expect(e.value).toBeCloseTo(12);
    e.observe(Number.NaN);
    expect(e.value).toBeCloseTo(12);
  });

  it("cold values need 10 blocks: G = 6·12 s, U = 12 s, S·B = 36 s", () => {
    const b = new TimeBudget({ safetyBlocks: 3 });
    expect(b.neededBlocks()).toBe(10);
    expect(b.mayStartBatch(300, 319)).toBe(true); // 11 left
    expect(b.mayStartBatch(300, 320)).toBe(false); // 10 left
  });

  it("learns the block time from chain reads and caps the need at WINDOW_LENGTH − 1", () => {
    const b = new TimeBudget({ safetyBlocks: 3 });
    b.observeBlock(100, 0);
    b.observeBlock(102, 2_000); // 1 s per block
    expect(b.blockSeconds).toBeCloseTo(0.2 * 1 + 0.8 * 12);
    for (let i = 0; i < 60; i++) b.observeBlock(103 + i, 3_000 + i * 1000);
    expect(b.blockSeconds).toBeCloseTo(1, 2);
    b.batchTime.observe(4);
    b.uploadTime.observe(2);
    const reserve = Math.max(3 * b.blockSeconds, 4 + b.blockSeconds); // 1 s blocks: slack + a block
    expect(b.neededBlocks()).toBe(Math.ceil((4 + 2 + reserve) / b.blockSeconds));
    b.batchTime.observe(10_000);
    expect(b.neededBlocks()).toBe(WINDOW_LENGTH - 1);
  });

  it("with short blocks the reserve covers the deadline slack and one block, not only the safety blocks", () => {
    const b = new TimeBudget({ safetyBlocks: 3 });
    for (let i = 0; i <= 60; i++) b.observeBlock(100 + i, i * 700); // 0.7 s blocks
    b.batchTime.observe(2.1);
    b.uploadTime.observe(0.7);
    const block = b.blockSeconds;
    // S·B = 2.1 s would let a batch end after the seal; 4 s slack + one block is what the seal keeps back.
    expect(b.neededBlocks()).toBe(Math.ceil((2.1 + 0.7 + 4 + block) / block));
    expect(b.neededBlocks()).toBeGreaterThan(Math.ceil((2.1 + 0.7 + 3 * block) / block));
  });

  it("places the deadline 4 s before the next window's first block and seals one upload and one block earlier", () => {
    const b = new TimeBudget({ safetyBlocks: 3 });
    for (let i = 0; i <= 40; i++) b.observeBlock(90 + i, i * 2_000); // 2 s blocks, head 130 at t = 80 s
    expect(b.blockSeconds).toBeCloseTo(2, 1);
    const end = b.windowEndMs(120, 0);
    expect(end).toBeCloseTo(80_000 + 20 * b.blockSeconds * 1000);
    expect(b.deadlineMs(120, 0)).toBe(Math.floor(end - 4_000));
    b.uploadTime.observe(3);
    expect(b.sealMs(120, 0)).toBeCloseTo(Math.floor(end - 4_000) - (3 + b.blockSeconds) * 1000);
  });
});

describe("error policy (spec §3.12 with the §11 fixes)", () => {
  it("skips windows for bad metadata and unusable checkpoints, exits for init failures, retries the rest", () => {
    expect(classifyWindowError(new ProtocolViolationError("bad max_tokens"))).toEqual({
      action: "skip_window",
      reason: "metadata_invalid",
    });
    expect(classifyWindowError(new UnknownEnvironmentError("sat", ["gsm8k"]))).toMatchObject({
      action: "skip_window",
    });
    expect(classifyWindowError(new WindowSkippedError("weights_not_synced", "x"))).toEqual({
      action: "skip_window",
      reason: "weights_not_synced",
    });
    expect(classifyWindowError(new PipelineInitError("port taken"))).toEqual({ action: "exit", code: 1 });
    expect(classifyWindowError(new FatalMiningError("stall"))).toEqual({ action: "exit", code: 1 });
    expect(classifyWindowError(new PoolStartError("every worker lost"))).toEqual({ action: "exit", code: 1 });
    expect(classifyWindowError(new Error("socket hang up"))).toEqual({ action: "retry_window" });
  });

  it("the watchdog fires once after the silence limit, not before", () => {
    let t = 0;
    const stalls: number[] = [];
    const w = new Watchdog({
      timeoutMs: 1_800_000,
      checkIntervalMs: 600_000,
      onStall: (s) => stalls.push(s.silentForMs),
      now: () => t,
    });
    w.beat();
    t = 1_799_999;
    w.check();
    expect(stalls).toEqual([]);
    w.beat();
    t += 1_800_000;
    w.check();
    w.check();
    expect(stalls).toEqual([1_800_000]);
  });
});
