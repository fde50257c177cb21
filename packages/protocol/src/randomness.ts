import { DRAND_QUICKNET, ROLLOUTS_PER_PROBLEM } from "./constants.js";
import { ProtocolViolationError } from "./errors.js";
import { sha256Hex } from "./hex.js";

const PURE_HEX = /^[0-9a-fA-F]+$/;

/**
 * The miner's window randomness: hex(SHA-256(ASCII(block_hash ‖ drand_randomness))) with the
 * block hash keeping its `0x` (spec §5.3).
 */
export function combineRandomness(blockHash: string, drandRandomnessHex: string): string {
  return sha256Hex(blockHash + drandRandomnessHex);
}

/**
 * Randomness when drand is unavailable: hex(SHA-256(ASCII(block_hash))), the validator's own
 * no-drand formula. The reference miner's raw block hash would fail the schema (spec §5.4).
 */
export function noDrandRandomness(blockHash: string): string {
  return sha256Hex(blockHash);
}

/** The quicknet round current at `unixSeconds` (spec §5.2). */
export function drandRoundAt(unixSeconds: number): number {
  if (!Number.isFinite(unixSeconds) || unixSeconds < DRAND_QUICKNET.genesisTime) {
    throw new ProtocolViolationError(
      `drand quicknet has no round before its genesis ${DRAND_QUICKNET.genesisTime}, got ${unixSeconds}`,
      { unixSeconds },
    );
  }
  return 1 + Math.floor((unixSeconds - DRAND_QUICKNET.genesisTime) / DRAND_QUICKNET.period);
}

/** The top-level `challenge` string a rollout signature covers (spec §4.4). */
export function rolloutChallenge(blockHash: string, nonce: number): string {
  if (!Number.isSafeInteger(nonce) || nonce < 0) {
    throw new ProtocolViolationError(`nonce must be a non-negative integer, got ${nonce}`, { nonce });
  }
  return `|${blockHash}|${nonce}`;
}

/** Environment seed of problem `group` in a window (spec §5.6), in [0, 2^32). */
export function deriveEnvSeed(hotkeySs58: string, blockHash: string, group: number): number {
  if (!Number.isSafeInteger(group) || group < 0) {
    throw new ProtocolViolationError(`rollout group must be a non-negative integer, got ${group}`, { group });
  }
  return Number.parseInt(sha256Hex(`seed|${hotkeySs58}:${blockHash}:${group}`).slice(0, 8), 16);
}

/** `rollout_group · 16 + rollout_index`, unique within a window file (spec §5.6). */
export function rolloutNonce(group: number, index: number): number {
  if (!Number.isSafeInteger(group) || group < 0 || !Number.isInteger(index)) {
    throw new ProtocolViolationError(`invalid rollout group/index ${group}/${index}`, { group, index });
  }
  if (index < 0 || index >= ROLLOUTS_PER_PROBLEM) {
    throw new ProtocolViolationError(`rollout index must be in [0, ${ROLLOUTS_PER_PROBLEM}), got ${index}`, {
      group,
      index,
    });
  }
  return group * ROLLOUTS_PER_PROBLEM + index;
}

/** `commit.beacon` as Python's default `json.dumps({"randomness": r})` (spec §6.2). */
export function rolloutBeaconJson(randomnessHex: string): string {
  if (!PURE_HEX.test(randomnessHex)) {
    throw new ProtocolViolationError(
      `beacon randomness must be non-empty pure hex without 0x, got ${JSON.stringify(randomnessHex)}; ` +
        "validators reject anything else",
      { randomness: randomnessHex },
    );
  }
  return `{"randomness": "${randomnessHex}"}`;
}
