import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RandomModelOptions, writeRandomModel } from "@grail/engine-native";
import { tokenSeq } from "@grail/engine-native/testing";
import { createLogger, type Logger } from "@grail/log";
import { afterAll } from "vitest";

export const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const workerMain = join(repoRoot, "apps/worker/dist/main.js");

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

export const quietLogger = (): Logger =>
  createLogger({ verbosity: 0, stream: { write: () => true } as never });
