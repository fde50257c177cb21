#!/usr/bin/env node
// Writes a sample window file with our Parquet writer so it can be checked with pyarrow
// (scripts/storage/check_window_parquet.py) on a machine that has it.
//
//   pnpm turbo run build --filter @grail/storage...
//   node scripts/storage/write-sample-window.mjs [out.parquet] [--groups N] [--prompt P]
//        [--completion C] [--codec ZSTD|GZIP|SNAPPY|UNCOMPRESSED] [--rows-json rows.json]
//   node scripts/storage/write-sample-window.mjs --compare-codecs [--groups N] [--reps R] ...
//
// Rows are protocol-shaped (real nonces, challenges, commitments/beacon JSON text, GRPO
// advantages, one prompt per group of 16) and reproducible (a seeded generator; completion
// tokens, sketches, logprobs and signatures are pseudo-random, since the file check verifies no
// proof). --rows-json writes the rows and the metadata as JSON, the input of
// scripts/storage/make_window_fixtures.py (and the Parquet file only when a path is given). --compare-codecs writes the same window with GZIP and
// ZSTD through the appender the miner uses and prints bytes per rollout and write milliseconds
// per row (median of --reps runs).
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  combineRandomness,
  grpoAdvantages,
  pythonCommitmentsJson,
  rolloutBeaconJson,
  rolloutChallenge,
  rolloutNonce,
} from "../../packages/protocol/dist/index.js";
import {
  WindowFileAppender,
  windowFileMetadata,
  writeWindowFile,
} from "../../packages/storage/dist/index.js";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    groups: { type: "string", default: "4" },
    prompt: { type: "string", default: "48" },
    completion: { type: "string", default: "96" },
    codec: { type: "string" },
    "rows-json": { type: "string" },
    "compare-codecs": { type: "boolean", default: false },
    reps: { type: "string", default: "5" },
  },
});
const groups = Number(args.groups);
const prompt = Number(args.prompt);
const completion = Number(args.completion);
const hotkey = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const windowStart = 4999980;
const blockHash = `0x${"11".repeat(32)}`;
const randomness = combineRandomness(blockHash, "ab".repeat(32));

let state = 7;
const rand = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32;
};
const hex = (bytes) =>
  Array.from({ length: bytes }, () =>
    Math.floor(rand() * 256)
      .toString(16)
      .padStart(2, "0"),
  ).join("");

const rows = [];
for (let g = 0; g < groups; g++) {
  const rewards = Array.from({ length: 16 }, () => (rand() < 0.5 ? 0 : 0.5));
  const advantages = grpoAdvantages(rewards);
  // The 16 rollouts of a group answer the same prompt, as in a real window.
  const promptTokens = Array.from({ length: prompt }, () => Math.floor(rand() * 151_000));
  for (let i = 0; i < 16; i++) {
    const tokens = [
      ...promptTokens,
      ...Array.from({ length: completion }, () => Math.floor(rand() * 151_000)),
    ];
    const nonce = rolloutNonce(g, i);
    rows.push({
      window_start: windowStart,
      block: windowStart + 7,
      nonce,
      block_hash: blockHash,
      randomness,
      use_drand: true,
      rollout_group: g,
      rollout_index: i,
      total_in_group: 16,
      checkpoint_window: windowStart - 60,
      commit: {
        tokens,
        commitments: pythonCommitmentsJson(tokens.map(() => Math.floor(rand() * 2147483647))),
        proof_version: "v5",
        model: { name: "Qwen/Qwen2.5-0.5B-Instruct", layer_index: -1 },
        signature: hex(64),
        beacon: rolloutBeaconJson(randomness),
        rollout: {
          total_reward: rewards[i],
          advantage: advantages[i],
          success: rewards[i] > 0,
          token_logprobs: tokens.map((_, k) => (k < prompt ? 0 : Math.fround(-rand() * 4))),
          prompt_length: prompt,
          completion_length: completion,
        },
      },
      timestamp: 1712345678.123456 + g,
      challenge: rolloutChallenge(blockHash, nonce),
      hotkey,
      signature: hex(64),
    });
  }
}

const metadata = windowFileMetadata({
  hotkey,
  windowStart,
  rowCount: rows.length,
  timestampSeconds: 1712345678.5,
});

if (args["compare-codecs"]) {
  const reps = Number(args.reps);
  const codecs = ["GZIP", "ZSTD"];
  const times = new Map(codecs.map((c) => [c, []]));
  const sizes = new Map();
  const dir = await mkdtemp(join(tmpdir(), "window-codecs-"));
  try {
    // Codecs alternate within each repetition, so that a busy machine slows both alike.
    for (let r = 0; r < reps; r++) {
      for (const codec of codecs) {
        const path = join(dir, `${codec}-${r}.parquet`);
        const t0 = performance.now();
        // As the miner writes: rows appended group by group, full row groups encoded at once.
        const appender = await WindowFileAppender.create(`${path}.partial`, { codec });
        for (let g = 0; g < groups; g++) appender.append(rows.slice(g * 16, (g + 1) * 16));
        await appender.close(metadata, path);
        times.get(codec).push(performance.now() - t0);
        sizes.set(codec, (await stat(path)).size);
        await rm(path);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  for (const codec of codecs) {
    const sorted = times.get(codec).sort((a, b) => a - b);
    const ms = sorted[Math.floor(sorted.length / 2)];
    const bytes = sizes.get(codec);
    console.log(
      JSON.stringify({
        codec,
        rows: rows.length,
        tokensPerRow: prompt + completion,
        bytes,
        bytesPerRollout: Math.round(bytes / rows.length),
        msPerRow: Number((ms / rows.length).toFixed(4)),
        medianOf: reps,
      }),
    );
  }
} else {
  if (args["rows-json"]) {
    const json = { hotkey, windowStart, blockHash, metadata, rows };
    await writeFile(resolve(args["rows-json"]), `${JSON.stringify(json)}\n`);
  }
  if (positionals[0] || !args["rows-json"]) {
    const out = resolve(positionals[0] ?? "sample-window.parquet");
    await writeWindowFile(rows, metadata, out, args.codec ? { codec: args.codec } : {});
    console.log(JSON.stringify({ path: out, rows: rows.length, hotkey, windowStart }));
  }
}
