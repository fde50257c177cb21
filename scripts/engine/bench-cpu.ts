// CPU backend throughput on a tiny model: npx tsx --conditions=source scripts/engine/bench-cpu.ts [threads]
// Prints the time to prove 16 rollouts of 200 tokens with a 2-layer hidden-256 qwen2 model.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, writeRandomModel } from "../../packages/engine-native/src/index.js";

const threads = Number(process.argv[2] ?? 0);
const dir = mkdtempSync(join(tmpdir(), "engine-bench-"));
try {
  writeRandomModel(dir, {
    modelType: "qwen2",
    hiddenSize: 256,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 704,
    vocabSize: 2048,
    outliers: true,
  });
  const model = await loadModel(dir, { backend: "cpu", threads });
  const batch = Array.from({ length: 16 }, (_, i) => ({
    tokens: Array.from({ length: 200 }, (_, j) => (i * 131 + j * 17) % 2048),
    promptLen: 50,
  }));
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    await model.prove(batch, "ab".repeat(32));
    times.push(performance.now() - t0);
  }
  model.close();
  times.sort((a, b) => a - b);
  console.log(
    `cpu backend, ${threads || "all"} threads: 16 rollouts x 200 tokens, median ${times[2]!.toFixed(1)} ms ` +
      `(min ${times[0]!.toFixed(1)}, max ${times[4]!.toFixed(1)}), ${((3200 / times[2]!) * 1000).toFixed(0)} tokens/s`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
