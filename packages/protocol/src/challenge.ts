import { CHALLENGE_K, RNG_LABEL } from "./constants.js";
import { ProtocolViolationError } from "./errors.js";
import { normalizeHex } from "./hex.js";
import { hashTokens, prf } from "./prf.js";
import { PyRandom } from "./pyrandom.js";

/** Inputs the reference's `indices_from_root_in_range` refuses with ValueError. */
export class ChallengeInputError extends ProtocolViolationError {}

/** The 32-byte MT seed of the challenge: prf("open", hash_tokens(tokens), randomness) (spec §2.5). */
export function challengeMaterial(tokens: ArrayLike<number>, challengeRandomnessHex: string): Uint8Array {
  if (tokens.length === 0) {
    throw new ChallengeInputError(
      "tokens list cannot be empty: the challenge seed hashes the full sequence",
      {
        tokens: 0,
      },
    );
  }
  const randomness = normalizeHex(challengeRandomnessHex);
  if (randomness.length === 0) {
    throw new ChallengeInputError(
      `challenge randomness is empty after trimming and dropping 0x: ${JSON.stringify(challengeRandomnessHex)}; pass window_rand as hex`,
      { randomness: challengeRandomnessHex },
    );
  }
  return prf(RNG_LABEL.open, [hashTokens(tokens), randomness], 32);
}

/**
 * The absolute positions in [start, end) the validator challenges, sorted ascending
 * (`indices_from_root_in_range`, spec §2.5). The seed hashes the full token list. Refuses what
 * the reference refuses, in its order: a negative start, end < start, then (for a non-empty
 * range) k ≤ 0, no tokens, empty randomness.
 */
export function challengeIndices(
  tokens: ArrayLike<number>,
  challengeRandomnessHex: string,
  start: number,
  end: number,
  k: number = CHALLENGE_K,
): number[] {
  const context = { start, end, k };
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !Number.isSafeInteger(k)) {
    throw new ChallengeInputError(
      `challenge range must be integers: start=${start}, end=${end}, k=${k}`,
      context,
    );
  }
  if (start < 0) throw new ChallengeInputError(`start must be non-negative, got ${start}`, context);
  if (end < start) {
    throw new ChallengeInputError(`end must be >= start, got start=${start}, end=${end}`, context);
  }
  const length = end - start;
  if (length === 0) return [];
  if (k <= 0) throw new ChallengeInputError(`k must be positive, got ${k}`, context);
  const count = Math.min(k, length);
  const rng = PyRandom.fromBytes(challengeMaterial(tokens, challengeRandomnessHex));
  let relative: number[];
  // The reference compares `k < L * 0.1` in float64; for integer L and small k that equals 10k < L.
  if (count < length * 0.1) {
    relative = rng.sample(length, count);
  } else {
    const all = Array.from({ length }, (_, i) => i);
    rng.shuffle(all);
    relative = all.slice(0, count);
  }
  return relative.sort((a, b) => a - b).map((i) => i + start);
}
