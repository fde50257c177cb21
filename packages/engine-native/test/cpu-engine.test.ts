import { generateRVec, sketchDistance, sketchOfHidden } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/index.js";
import { tinyModel, tokenSeq } from "./helpers.js";
import { logSoftmaxAt, referenceForward } from "./reference-forward.js";

const RANDOMNESS = "feedbeefcafebabe1234567890abcdef";

describe.each(["qwen2", "qwen3", "llama"] as const)("CPU backend, %s", (family) => {
  it("matches the independent TypeScript reference forward", async () => {
    const dir = tinyModel(family);
    const model = await loadModel(dir, { backend: "cpu", threads: 2 });
    // long enough that llama3 rope scaling (original max 64) changes frequencies in play
    const tokens = tokenSeq(96, 300, 7);
    const promptLen = 20;
    const [proof] = await model.prove([{ tokens, promptLen }], RANDOMNESS);
    const ref = referenceForward(dir, tokens);
    const rvec = generateRVec(RANDOMNESS);
    const hidden = await model.hiddenStates(tokens);
    let identical = 0;
    let total = 0;
    let maxSketch = 0;
    for (let p = 0; p < tokens.length; p++) {
      const r = ref.hidden[p]!;
      for (let i = 0; i < 64; i++) {
        total++;
        if (hidden[p * 64 + i] === r[i]) identical++;
      }
      maxSketch = Math.max(maxSketch, sketchDistance(proof!.sVals[p]!, sketchOfHidden(r, rvec)));
    }
    let maxLp = 0;
    for (let p = promptLen; p < tokens.length; p++) {
      const lp = logSoftmaxAt(ref.logits(p - 1), tokens[p]!);
      maxLp = Math.max(maxLp, Math.abs(lp - proof!.logprobs[p - promptLen]!));
    }
    console.log(
      `${family}: identical ${(identical / total).toFixed(4)}, max sketch ${maxSketch}, max dlp ${maxLp.toExponential(2)}`,
    );
    // Only fp32 summation order differs; it rarely flips a bf16 rounding.
    expect(identical / total).toBeGreaterThan(0.98);
    expect(maxSketch).toBeLessThan(300);
    expect(maxLp).toBeLessThan(0.02);
    model.close();
  });

  it("agrees with protocol sketchOfHidden and its own logits exactly", async () => {
    const dir = tinyModel(family);
    const model = await loadModel(dir, { backend: "cpu" });
    const tokens = tokenSeq(80, 300, 3);
    const promptLen = 30;
    const [proof] = await model.prove([{ tokens, promptLen }], RANDOMNESS);
    const hidden = await model.hiddenStates(tokens);
    const rvec = generateRVec(RANDOMNESS);
    expect(proof!.sVals.length).toBe(tokens.length);
    expect(proof!.logprobs.length).toBe(tokens.length - promptLen);
    for (let p = 0; p < tokens.length; p++) {
      expect(proof!.sVals[p]).toBe(sketchOfHidden(hidden.subarray(p * 64, (p + 1) * 64), rvec));
    }
    for (const p of [promptLen, promptLen + 7, tokens.length - 1]) {
      const [logits] = await model.lastLogits([tokens.slice(0, p)]);
      expect(proof!.logprobs[p - promptLen]).toBeCloseTo(logSoftmaxAt(logits!, tokens[p]!), 5);
    }
    const [last] = await model.lastLogits([tokens.slice(0, tokens.length - 1)]);
    const eos = model.info.eosTokenId!;
    expect(proof!.eosProb).toBeCloseTo(Math.exp(logSoftmaxAt(last!, eos)), 6);
    model.close();
  });
});
