import { describe, expect, it } from "vitest";
import { EngineError, loadModel, PROFILE_STAGES, parseProfile } from "../src/index.js";
import { tinyModel, tokenSeq } from "./helpers.js";

const RANDOMNESS = "cd".repeat(32);

/** A report as native/cuda/profiler.h writes it. */
function report(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tokens: 9600,
    sequences: 16,
    logitRows: 6400,
    maxLen: 900,
    wallMs: 130.5,
    gpuMs: 200.25,
    stages: PROFILE_STAGES.map((name, i) => ({ name, ms: i + 0.5, calls: i === 0 ? 1 : 28 })),
    memory: { deviceUsedBytes: 21e9, deviceTotalBytes: 143e9, engineBytes: 19e9, weightBytes: 15e9 },
    ...overrides,
  };
}

describe("per-stage profile", () => {
  it("types the native report and derives the time no stage accounts for", () => {
    const p = parseProfile(JSON.stringify(report()));
    expect(p.stages.map((s) => s.name)).toEqual([...PROFILE_STAGES]);
    const staged = PROFILE_STAGES.reduce((a, _, i) => a + i + 0.5, 0);
    expect(p.unattributedMs).toBeCloseTo(200.25 - staged, 9);
    expect(p.memory.engineBytes).toBe(19e9);
    expect(p.tokens).toBe(9600);
    // Event pairs can add up to slightly more than the span: never a negative gap.
    expect(parseProfile(JSON.stringify(report({ gpuMs: 1 }))).unattributedMs).toBe(0);
  });

  it("refuses reports it cannot trust, saying so", () => {
    const bad = [
      "not json",
      JSON.stringify(report({ stages: "x" })),
      JSON.stringify(report({ stages: [{ name: "warp_drive", ms: 1, calls: 1 }] })),
      JSON.stringify(report({ gpuMs: -1 })),
      JSON.stringify(report({ memory: null })),
      JSON.stringify(report({ tokens: "9600" })),
    ];
    for (const raw of bad) {
      expect(() => parseProfile(raw)).toThrow(EngineError);
      expect(() => parseProfile(raw)).toThrow(/profile report is malformed/);
    }
  });

  it("is null on the CPU backend, which has no profiler, and the engine switches leave proofs unchanged", async () => {
    const model = await loadModel(tinyModel("qwen2"), { backend: "cpu" });
    const batch = [
      { tokens: tokenSeq(40, 300, 3), promptLen: 9 },
      { tokens: tokenSeq(25, 300, 4), promptLen: 5 },
    ];
    expect(await model.lastProfile()).toBeNull();
    const plain = await model.prove(batch, RANDOMNESS);
    const profiled = await model.prove(batch, RANDOMNESS, { profile: true, sharePrompts: false });
    expect(await model.lastProfile()).toBeNull();
    expect(profiled).toEqual(plain);
    model.close();
    await expect(model.lastProfile()).rejects.toMatchObject({ code: "closed" });
  });

  it("takes its switches per model and per call, and refuses values that are not booleans", async () => {
    const model = await loadModel(tinyModel("qwen2"), { backend: "cpu", profile: true, sharePrompts: false });
    const batch = [{ tokens: tokenSeq(12, 300, 5), promptLen: 4 }];
    expect(await model.prove(batch, RANDOMNESS, { profile: false })).toHaveLength(1);
    for (const bad of [{ profile: "1" }, { sharePrompts: 0 }]) {
      await expect(model.prove(batch, RANDOMNESS, bad as never)).rejects.toMatchObject({
        code: "invalid_input",
        message: expect.stringMatching(/must be true or false/),
      });
    }
    model.close();
    await expect(
      loadModel(tinyModel("qwen2"), { backend: "cpu", profile: "yes" as never }),
    ).rejects.toMatchObject({ code: "invalid_input" });
  });
});
