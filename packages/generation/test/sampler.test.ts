import { describe, expect, it } from "vitest";
import {
  applyRepetitionPenalty,
  candidateDistribution,
  SeededRandom,
  sampleToken,
  topKIds,
} from "../src/index.js";

const logits = () => Float32Array.from([1.0, 3.0, 2.0, -1.0, 0.5]);
const base = { temperature: 1, topP: 1, topK: -1, repetitionPenalty: 1 };

describe("sampler", () => {
  it("is greedy at temperature 0 and with top_k = 1", () => {
    expect(sampleToken(logits(), [], { ...base, temperature: 0 }, new SeededRandom(1))).toBe(1);
    for (let seed = 0; seed < 20; seed++) {
      expect(sampleToken(logits(), [], { ...base, topK: 1 }, new SeededRandom(seed))).toBe(1);
    }
  });

  it("keeps the top-k candidates with softmax probabilities at the temperature", () => {
    const { ids, probs } = candidateDistribution(logits(), { temperature: 0.5, topK: 3, topP: 1 });
    expect(ids).toEqual([1, 2, 0]);
    const z = [3, 2, 1].map((l) => Math.exp(l / 0.5));
    const sum = z.reduce((a, b) => a + b, 0);
    for (const [i, p] of probs.entries()) expect(p).toBeCloseTo(z[i]! / sum, 6);
  });

  it("keeps the smallest nucleus reaching top_p", () => {
    const full = candidateDistribution(logits(), { temperature: 1, topK: -1, topP: 1 });
    const p0 = full.probs[0]!;
    expect(candidateDistribution(logits(), { temperature: 1, topK: -1, topP: p0 - 1e-6 }).ids).toEqual([1]);
    expect(candidateDistribution(logits(), { temperature: 1, topK: -1, topP: p0 + 1e-6 }).ids).toEqual([
      1, 2,
    ]);
  });

  it("applies HF repetition penalty (divide positive, multiply negative) once per token", () => {
    const l = logits();
    applyRepetitionPenalty(l, [1, 1, 3], 2);
    expect(Array.from(l)).toEqual([1, 1.5, 2, -2, 0.5]);
  });

  it("draws tokens with the softmax frequencies, reproducibly per seed", () => {
    const draw = (seed: number) => {
      const random = new SeededRandom(seed);
      const counts = new Array(5).fill(0);
      for (let i = 0; i < 20_000; i++) counts[sampleToken(logits(), [], base, random)]++;
      return counts.map((c) => c / 20_000);
    };
    const freq = draw(7);
    expect(draw(7)).toEqual(freq);
    const { ids, probs } = candidateDistribution(logits(), base);
    for (const [i, id] of ids.entries()) expect(Math.abs(freq[id]! - probs[i]!)).toBeLessThan(0.015);
  });
});

describe("top-k selection", () => {
  it("matches a full sort, ties broken by the lower id", () => {
    const random = new SeededRandom(11);
    const values = Float32Array.from({ length: 5000 }, () => Math.round(random.next() * 200) / 10);
    const sorted = Array.from({ length: values.length }, (_, i) => i).sort(
      (a, b) => values[b]! - values[a]! || a - b,
    );
    for (const k of [1, 2, 50, 777]) expect(topKIds(values, k)).toEqual(sorted.slice(0, k));
  });

  it("samples the untruncated softmax without sorting, with the right frequencies", () => {
    const random = new SeededRandom(3);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 20_000; i++) counts[sampleToken(logits(), [], base, random)]++;
    const { ids, probs } = candidateDistribution(logits(), base);
    for (const [i, id] of ids.entries())
      expect(Math.abs(counts[id]! / 20_000 - probs[i]!)).toBeLessThan(0.015);
  });
});
