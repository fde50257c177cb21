import { describe, expect, it } from "vitest";
import { ChainCallError, ChainTimeoutError, callWithRetry, withTimeout } from "../src/index.js";

describe("call policy", () => {
  it("retries with exponential backoff and returns the first success", async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await callWithRetry(
      "flaky read",
      async () => {
        calls++;
        if (calls < 3) throw new Error(`boom ${calls}`);
        return 42;
      },
      { timeoutMs: 1_000, attempts: 3, backoffBaseMs: 1 },
      { onRetry: (_e, _attempt, delayMs) => delays.push(delayMs) },
    );
    expect(value).toBe(42);
    expect(delays).toEqual([1, 2]);
  });

  it("gives up after the last attempt with the cause attached", async () => {
    const error = await callWithRetry(
      "dead read",
      async () => {
        throw new Error("socket closed");
      },
      { timeoutMs: 1_000, attempts: 2, backoffBaseMs: 1 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainCallError);
    expect((error as ChainCallError).message).toMatch(/dead read failed after 2 attempt\(s\): socket closed/);
    expect(((error as ChainCallError).cause as Error).message).toBe("socket closed");
  });

  it("bounds each attempt by the timeout", async () => {
    const never = new Promise<number>(() => {});
    await expect(withTimeout(never, 5, "stuck read")).rejects.toBeInstanceOf(ChainTimeoutError);
    let calls = 0;
    const error = await callWithRetry(
      "stuck read",
      () => {
        calls++;
        return never;
      },
      { timeoutMs: 5, attempts: 2, backoffBaseMs: 1 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(((error as ChainCallError).cause as Error).name).toBe("ChainTimeoutError");
  });

  it("rethrows at once what retrying cannot fix", async () => {
    let calls = 0;
    await expect(
      callWithRetry(
        "bad input",
        async () => {
          calls++;
          throw new RangeError("bad");
        },
        { timeoutMs: 100, attempts: 3, backoffBaseMs: 1 },
        { isRetryable: (e) => !(e instanceof RangeError) },
      ),
    ).rejects.toBeInstanceOf(RangeError);
    expect(calls).toBe(1);
  });
});
