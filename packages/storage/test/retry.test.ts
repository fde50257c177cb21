import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY_POLICY, withRetries } from "../src/retry.js";

describe("withRetries", () => {
  it("accepts a deadline that leaves a fractional number of milliseconds", async () => {
    const start = 1_000;
    const result = await withRetries(async (signal) => (signal.aborted ? "aborted" : "ok"), {
      policy: DEFAULT_RETRY_POLICY,
      deadlineMs: start + 1234.567,
      now: () => start,
    });
    expect(result).toBe("ok");
  });
});
