import {
  combineRandomness,
  completionDigest,
  DRAND_QUICKNET,
  deriveEnvSeed,
  drandRoundAt,
  GRPO_ADV_SUM_TOLERANCE,
  grpoAdvantages,
  nextWindowStart,
  noDrandRandomness,
  ProtocolViolationError,
  pythonSum,
  rolloutBeaconJson,
  rolloutChallenge,
  rolloutNonce,
  sha256Hex,
  utf8,
  validatorTargetWindow,
  windowDeadlineSeconds,
  windowFileKey,
  windowStart,
} from "@grail/protocol";
import { describe, expect, test } from "vitest";

const HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BLOCK_HASH = `0x${"11".repeat(32)}`;

describe("seeds (spec §11.7)", () => {
  const cases: [number, string, number][] = [
    [0, "a5136adce4b67b8a18137e81f370136c5ad3e7d13452a6a959d303e023435692", 2769513180],
    [1, "0dc9ff71c269f7262fe693d41261f86779c2f3a54f5cc2d9514c8e603ca51b7e", 231341937],
    [7, "1780b1909ff401a3c8578bd0fca84dbce2c0bbe73bea66f071ffef53d0cb506b", 394310032],
  ];
  test.each(cases)("group %i", (g, digest, seed) => {
    expect(sha256Hex(`seed|${HOTKEY}:${BLOCK_HASH}:${g}`)).toBe(digest);
    expect(deriveEnvSeed(HOTKEY, BLOCK_HASH, g)).toBe(seed);
  });

  test("nonce and challenge string", () => {
    expect(rolloutNonce(3, 5)).toBe(53);
    expect(() => rolloutNonce(3, 16)).toThrow(ProtocolViolationError);
    const challenge = rolloutChallenge(BLOCK_HASH, 53);
    expect(challenge).toBe(`|0x${"1".repeat(64)}|53`);
    expect(Buffer.from(utf8(challenge)).toString("hex")).toBe(`7c3078${"31".repeat(64)}7c3533`);
  });
});

describe("randomness (spec §11.7, §5.2–5.4)", () => {
  test("combined and no-drand values", () => {
    expect(combineRandomness(BLOCK_HASH, "a".repeat(64))).toBe(
      "66a83331e0505bcf7e36c6961c17a3e45fff39be51ba46d31d2b1dd987027d7a",
    );
    expect(noDrandRandomness(BLOCK_HASH)).toBe(
      "dc70486ba63e5111f3e401f6c83814074f2b34f44cd652e34aecce72ed18fb71",
    );
  });

  test("drand quicknet round", () => {
    expect(drandRoundAt(1700000000)).toBe(2398878);
    expect(drandRoundAt(DRAND_QUICKNET.genesisTime)).toBe(1);
    expect(drandRoundAt(DRAND_QUICKNET.genesisTime + 2.9)).toBe(1);
    expect(drandRoundAt(DRAND_QUICKNET.genesisTime + 3)).toBe(2);
    expect(() => drandRoundAt(0)).toThrow(/genesis/);
  });

  test("beacon JSON is Python's default json.dumps and refuses 0x", () => {
    const r = "66a83331e0505bcf7e36c6961c17a3e45fff39be51ba46d31d2b1dd987027d7a";
    expect(rolloutBeaconJson(r)).toBe(`{"randomness": "${r}"}`);
    expect(() => rolloutBeaconJson(BLOCK_HASH)).toThrow(ProtocolViolationError);
    expect(() => rolloutBeaconJson("")).toThrow(ProtocolViolationError);
  });
});

describe("windows (spec §5.1)", () => {
  test("window arithmetic and deadline", () => {
    expect(windowStart(4999987)).toBe(4999980);
    expect(windowStart(4999980)).toBe(4999980);
    expect(nextWindowStart(4999987)).toBe(5000010);
    expect(validatorTargetWindow(5000015)).toBe(4999980);
    expect(windowDeadlineSeconds(1712345678123)).toBeCloseTo(1712345674.123, 6);
    expect(windowFileKey(HOTKEY, 4999980)).toBe(`grail/windows/${HOTKEY}-window-4999980.parquet`);
    expect(() => windowStart(-1)).toThrow(ProtocolViolationError);
  });
});

describe("GRPO advantages and digest (spec §11.7)", () => {
  test("advantages match the reference bit for bit", () => {
    const rewards = [1, 0, 0, 1, 0.5, 0.25, 0, 0, 1, 1, 0, 0.75, 0, 0, 0, 1];
    const adv = grpoAdvantages(rewards);
    const byReward = new Map(rewards.map((r, i) => [r, adv[i]]));
    expect(byReward.get(1)).toBe(1.3205912890281402);
    expect(byReward.get(0)).toBe(-0.9035624609139906);
    expect(byReward.get(0.5)).toBe(0.20851441405707474);
    expect(byReward.get(0.25)).toBe(-0.34752402342845795);
    expect(byReward.get(0.75)).toBe(0.7645528515426074);
    expect(Math.abs(adv.reduce((a, b) => a + b, 0))).toBeLessThan(1e-12);
  });

  test("equal rewards give zero advantages; empty gives empty", () => {
    expect(grpoAdvantages(new Array(16).fill(0.5))).toEqual(new Array(16).fill(0));
    expect(grpoAdvantages([])).toEqual([]);
    expect(Math.abs(pythonSum(grpoAdvantages([0, 1, 1, 1])))).toBeLessThanOrEqual(GRPO_ADV_SUM_TOLERANCE);
  });

  test("pythonSum compensates like CPython 3.12", () => {
    expect(pythonSum([0.1, 0.2, 0.3])).toBe(0.6);
    expect(0.1 + 0.2 + 0.3).not.toBe(0.6);
    expect(pythonSum([1e100, 1, -1e100])).toBe(1);
  });

  test("completion digest", () => {
    expect(completionDigest([5, 6, 7])).toBe(
      "419f49e7575753b9756af1bf43941cae34f9a35fed91a9a0303483b242ae61f1",
    );
    expect(completionDigest([])).toBe(sha256Hex("[]"));
  });
});
