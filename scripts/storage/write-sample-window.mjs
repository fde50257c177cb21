#!/usr/bin/env node
// Writes a sample window file with our Parquet writer so it can be checked with pyarrow
// (scripts/storage/check_window_parquet.py) on a machine that has it.
//
//   pnpm turbo run build --filter @grail/storage...
//   node scripts/storage/write-sample-window.mjs [out.parquet] [--groups N] [--completion C]
//
// Rows are protocol-shaped (real nonces, challenges, commitments/beacon JSON text, GRPO
// advantages); signatures are random hex since the file check does not verify them.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import {
  combineRandomness,
  grpoAdvantages,
  pythonCommitmentsJson,
  rolloutBeaconJson,
  rolloutChallenge,
  rolloutNonce,
} from "../../packages/protocol/dist/index.js";
import { windowFileMetadata, writeWindowFile } from "../../packages/storage/dist/index.js";

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const out = resolve(
  args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? "sample-window.parquet",
);
const groups = flag("--groups", 4);
const completion = flag("--completion", 96);
const prompt = 48;
const hotkey = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const windowStart = 4999980;
const blockHash = `0x${"11".repeat(32)}`;
const randomness = combineRandomness(blockHash, "ab".repeat(32));

let state = 7;
const rand = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32;
};

const rows = [];
for (let g = 0; g < groups; g++) {
  const rewards = Array.from({ length: 16 }, () => (rand() < 0.5 ? 0 : 0.5));
  const advantages = grpoAdvantages(rewards);
  for (let i = 0; i < 16; i++) {
    const tokens = Array.from({ length: prompt + completion }, () => Math.floor(rand() * 151_000));
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
        signature: randomBytes(64).toString("hex"),
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
      signature: randomBytes(64).toString("hex"),
    });
  }
}

const metadata = windowFileMetadata({
  hotkey,
  windowStart,
  rowCount: rows.length,
  timestampSeconds: 1712345678.5,
});
await writeWindowFile(rows, metadata, out);
console.log(JSON.stringify({ path: out, rows: rows.length, hotkey, windowStart }));
