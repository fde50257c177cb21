/**
 * Synthetic but protocol-shaped window rows: real nonces, challenges, beacon/commitment
 * JSON text and GRPO advantages from @grail/protocol; signatures are random hex because
 * storage never verifies them.
 */
import { randomBytes } from "node:crypto";
import {
  combineRandomness,
  grpoAdvantages,
  pythonCommitmentsJson,
  type RolloutRecord,
  rolloutBeaconJson,
  rolloutChallenge,
  rolloutNonce,
} from "@grail/protocol";

export const SAMPLE_HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

export function makeWindowRows(opts: {
  windowStart: number;
  groups: number;
  promptLength?: number;
  completionLength?: number;
  hotkey?: string;
  seed?: number;
}): RolloutRecord[] {
  const hotkey = opts.hotkey ?? SAMPLE_HOTKEY;
  const P = opts.promptLength ?? 40;
  const C = opts.completionLength ?? 64;
  let state = opts.seed ?? 12345;
  const rand = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const blockHash = `0x${"11".repeat(32)}`;
  const randomness = combineRandomness(blockHash, "ab".repeat(32));
  const rows: RolloutRecord[] = [];
  for (let g = 0; g < opts.groups; g++) {
    const rewards = Array.from({ length: 16 }, () => (rand() < 0.5 ? 0 : 1) * 0.5);
    const advantages = grpoAdvantages(rewards);
    for (let i = 0; i < 16; i++) {
      const tokens = Array.from({ length: P + C }, () => Math.floor(rand() * 151_000));
      const sketches = tokens.map(() => Math.floor(rand() * 2147483647));
      const logprobs = tokens.map((_, k) => (k < P ? 0 : Math.fround(-rand() * 4)));
      const nonce = rolloutNonce(g, i);
      rows.push({
        window_start: opts.windowStart,
        block: opts.windowStart + 7,
        nonce,
        block_hash: blockHash,
        randomness,
        use_drand: true,
        rollout_group: g,
        rollout_index: i,
        total_in_group: 16,
        checkpoint_window: opts.windowStart - 60,
        commit: {
          tokens,
          commitments: pythonCommitmentsJson(sketches),
          proof_version: "v5",
          model: { name: "Qwen/Qwen2.5-0.5B-Instruct", layer_index: -1 },
          signature: randomBytes(64).toString("hex"),
          beacon: rolloutBeaconJson(randomness),
          rollout: {
            total_reward: rewards[i]!,
            advantage: advantages[i]!,
            success: rewards[i]! > 0,
            token_logprobs: logprobs,
            prompt_length: P,
            completion_length: C,
          },
        },
        timestamp: 1712345678.123456 + g,
        challenge: rolloutChallenge(blockHash, nonce),
        hotkey,
        signature: randomBytes(64).toString("hex"),
      });
    }
  }
  return rows;
}
