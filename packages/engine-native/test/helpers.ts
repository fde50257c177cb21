import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { type RandomModelOptions, writeRandomModel } from "../src/index.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "engine-native-"));
  dirs.push(d);
  return d;
}

export const TINY: Record<"qwen2" | "qwen3" | "llama", RandomModelOptions> = {
  qwen2: {
    modelType: "qwen2",
    hiddenSize: 64,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 160,
    vocabSize: 300,
    outliers: true,
    seed: 11,
    initStd: 0.08,
  },
  qwen3: {
    modelType: "qwen3",
    hiddenSize: 64,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 1,
    headDim: 32,
    intermediateSize: 128,
    vocabSize: 300,
    outliers: true,
    seed: 12,
    initStd: 0.08,
  },
  llama: {
    modelType: "llama",
    hiddenSize: 64,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 192,
    vocabSize: 300,
    outliers: true,
    seed: 13,
    initStd: 0.08,
    ropeTheta: 500000,
    llama3RopeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMax: 64 },
  },
};

export function tinyModel(family: keyof typeof TINY, extra: Partial<RandomModelOptions> = {}): string {
  const dir = tempDir();
  writeRandomModel(dir, { ...TINY[family], ...extra });
  return dir;
}

export { tokenSeq } from "../src/testing/index.js";
