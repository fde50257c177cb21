import { CHALLENGE_K, RNG_LABEL } from "./constants.js";
import { ProtocolViolationError } from "./errors.js";
import { normalizeHex } from "./hex.js";
import { hashTokens, prf } from "./prf.js";
import { PyRandom } from "./pyrandom.js";

/** The 32-byte MT seed of the challenge: prf("open", hash_tokens(tokens), randomness) (spec §2.5). */
export function challengeMaterial(tokens: ArrayLike<number>, challengeRandomnessHex: string): Uint8Array {
  return prf(RNG_LABEL.open, [hashTokens(tokens), normalizeHex(challengeRandomnessHex)], 32);
}

/**
 * The absolute positions in [start, end) the validator challenges, sorted ascending
 * (`indices_from_root_in_range`, spec §2.5). The seed hashes the full token list.
 */
export function challengeIndices(
  tokens: ArrayLike<number>,
  challengeRandomnessHex: string,
  start: number,
  end: number,
  k: number = CHALLENGE_K,
): number[] {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !Number.isSafeInteger(k) || k < 0) {
    throw new ProtocolViolationError(`challenge range must be integers: start=${start}, end=${end}, k=${k}`, {
      start,
      end,
      k,
    });
  }
  const length = end - start;
  if (length <= 0) return [];
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
