import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY_POLICY, isRetryableError, transferBackoff } from "../src/transfer-policy.js";

describe("transfer retry policy", () => {
  it("backs off exponentially, on the larger schedule when the store throttles", () => {
    const noJitter = transferBackoff(DEFAULT_RETRY_POLICY, () => 0.5);
    const network = new Error("socket hang up");
    const slowDown = Object.assign(new Error("Please reduce your request rate."), { name: "SlowDown" });
    expect([1, 2, 6, 7].map((attempt) => noJitter(attempt, network))).toEqual([1_000, 2_000, 32_000, 32_000]);
    expect([1, 2, 6].map((attempt) => noJitter(attempt, slowDown))).toEqual([2_000, 4_000, 60_000]);
    const lowest = transferBackoff(DEFAULT_RETRY_POLICY, () => 0);
    expect(lowest(1, network)).toBe(750);
  });

  it("retries network failures, timeouts, 5xx, 408 and 429, not what another attempt cannot fix", () => {
    const status = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
    expect([500, 503, 408, 429].map((s) => isRetryableError(status(s)))).toEqual([true, true, true, true]);
    expect([400, 403, 404].map((s) => isRetryableError(status(s)))).toEqual([false, false, false]);
    expect(isRetryableError(Object.assign(new Error("x"), { name: "NoSuchKey" }))).toBe(false);
    expect(isRetryableError(new Error("ECONNRESET"))).toBe(true);
  });
});
