import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RandomModelOptions, writeRandomModel } from "@grail/engine-native";
import { afterAll } from "vitest";

/** The built CLI (`pnpm build`). */
export const workerMain = resolve(fileURLToPath(new URL("../dist/main.js", import.meta.url)));

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
