#!/usr/bin/env node
// Throughput of the native generation server and the SGLang client on loopback (prints figures).
// Usage: pnpm turbo run build --filter @grail/generation && node scripts/generation/bench-native-server.mjs [vocab] [prompts] [maxNewTokens]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  NativeGenerationServer,
  SglangClient,
  writeBigramModelDir,
} from "../../packages/generation/dist/index.js";

const vocab = Number(process.argv[2] ?? 151936);
const promptCount = Number(process.argv[3] ?? 64);
const maxNewTokens = Number(process.argv[4] ?? 128);

const root = await mkdtemp(path.join(tmpdir(), "grail-bench-"));
try {
  const dir = await writeBigramModelDir(path.join(root, "checkpoint-1"), {
    vocabSize: vocab,
    eosTokenId: 151645 % vocab,
    seed: 1,
    scale: 4,
    eosBias: -100, // never stop early: every sequence runs the full budget
  });
  const server = await NativeGenerationServer.start({
    modelPath: dir,
    contextLength: 4096,
    maxRunningRequests: 256,
  });
  const client = new SglangClient({
    baseUrl: server.url,
    maxModelLen: 4096,
    promptsPerRequest: 16,
    maxConcurrentRequests: 8,
  });
  const prompts = Array.from({ length: promptCount }, (_, i) => [
    i % vocab,
    (i * 31) % vocab,
    (i * 97) % vocab,
  ]);
  for (const [label, policy] of [
    [
      "top_k=50 top_p=0.9 (trainer default)",
      { maxNewTokens, temperature: 0.7, topP: 0.9, topK: 50, repetitionPenalty: 1 },
    ],
    ["no truncation", { maxNewTokens, temperature: 0.7, topP: 1, topK: 0, repetitionPenalty: 1 }],
  ]) {
    const started = process.hrtime.bigint();
    const results = await client.generate(prompts, policy);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const tokens = results.reduce((a, r) => a + r.outputIds.length, 0);
    console.log(
      `${label}: vocab ${vocab}, ${promptCount} prompts x ${maxNewTokens} tokens: ${tokens} tokens in ${seconds.toFixed(2)} s = ${(tokens / seconds).toFixed(0)} tokens/s`,
    );
  }
  await server.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
