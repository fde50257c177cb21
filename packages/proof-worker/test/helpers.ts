import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RandomModelOptions, writeRandomModel } from "@grail/engine-native";
import { tokenSeq } from "@grail/engine-native/testing";
import { afterAll } from "vitest";
import { workerEntryPoints } from "../src/entry-points.js";

/** The built worker process (`pnpm build`) and the torch worker beside it. */
export const { main: workerMain, torch: torchWorker } = workerEntryPoints();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "worker-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export const TINY: RandomModelOptions = {
  modelType: "qwen2",
  hiddenSize: 64,
  numLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 128,
  vocabSize: 256,
  outliers: true,
  seed: 7,
  initStd: 0.08,
};

export function tinyModel(extra: Partial<RandomModelOptions> = {}, dir = tempDir("tiny-model-")): string {
  writeRandomModel(dir, { ...TINY, ...extra });
  return dir;
}

export { tokenSeq };

/** `n` rollouts of varying length sharing nothing, flattened as a prove request wants them. */
export function flatBatch(n: number, seed: number, vocab = TINY.vocabSize) {
  const rollouts = Array.from({ length: n }, (_, i) => {
    const promptLen = 4 + (i % 5);
    return { tokens: tokenSeq(promptLen + 6 + ((i * 7) % 17), vocab, seed * 1000 + i), promptLen };
  });
  return {
    rollouts,
    tokens: Int32Array.from(rollouts.flatMap((r) => r.tokens)),
    lengths: Int32Array.from(rollouts, (r) => r.tokens.length),
    promptLens: Int32Array.from(rollouts, (r) => r.promptLen),
  };
}

export { type CapturedLine, captureLogger } from "@grail/log/testing";
