import { describe, expect, it } from "vitest";
import { backoffSchedule, exponentialBackoff, RetryFailure, retry } from "../src/index.js";

const fail = (message: string) => async (): Promise<never> => {
  throw new Error(message);
};

describe("backoff", () => {
  it("doubles from the base, stops at the cap, and jitters within the given fraction", () => {
    const plain = exponentialBackoff({ baseMs: 100, capMs: 350 });
    expect([1, 2, 3, 4].map((a) => plain(a, null))).toEqual([100, 200, 350, 350]);
    const low = exponentialBackoff({ baseMs: 100, jitter: 0.25, random: () => 0 });
    const high = exponentialBackoff({ baseMs: 100, jitter: 0.25, random: () => 1 });
    expect([low(1, null), high(1, null)]).toEqual([75, 125]);
    expect(exponentialBackoff({ baseMs: 10, floorMs: 50 })(1, null)).toBe(50);
  });

  it("follows a schedule whose last wait repeats", () => {
    const schedule = backoffSchedule([5, 7]);
    expect([1, 2, 3].map((a) => schedule(a, null))).toEqual([5, 7, 7]);
    expect(backoffSchedule([])(1, null)).toBe(0);
  });
});

describe("retry", () => {
  it("returns the first success and reports each retry with the failed attempt's number", async () => {
    const seen: number[] = [];
    const retries: unknown[] = [];
    const value = await retry(
      async (_signal, attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error(`boom ${attempt}`);
        return "ok";
      },
      {
        attempts: 3,
        backoff: exponentialBackoff({ baseMs: 1 }),
        onRetry: ({ attempt, delayMs, error }) => retries.push([attempt, delayMs, (error as Error).message]),
      },
    );
    expect(value).toBe("ok");
    expect(seen).toEqual([1, 2, 3]);
    expect(retries).toEqual([
      [1, 1, "boom 1"],
      [2, 2, "boom 2"],
    ]);
  });

  it("gives up after the last attempt, or at once on an error another attempt cannot fix", async () => {
    const exhausted = await retry(fail("socket closed"), { attempts: 2, backoff: () => 0 }).catch((e) => e);
    expect(exhausted).toBeInstanceOf(RetryFailure);
    expect(exhausted).toMatchObject({ reason: "exhausted", attempts: 2, code: "RetryFailure" });
    expect((exhausted as RetryFailure).lastError).toEqual(new Error("socket closed"));
    expect((exhausted as RetryFailure).cause).toBe((exhausted as RetryFailure).lastError);

    let calls = 0;
    const fatal = await retry(
      async () => {
        calls++;
        throw new RangeError("bad input");
      },
      { attempts: 5, backoff: () => 0, isRetryable: (e) => !(e instanceof RangeError) },
    ).catch((e) => e);
    expect(fatal).toMatchObject({ reason: "fatal", attempts: 1 });
    expect(calls).toBe(1);
  });

  it("accepts a deadline that leaves a fractional number of milliseconds", async () => {
    const start = 1_000;
    const result = await retry(async (signal) => (signal.aborted ? "aborted" : "ok"), {
      attempts: 3,
      attemptTimeoutMs: 90_000,
      backoff: () => 0,
      deadlineMs: start + 1234.567,
      now: () => start,
    });
    expect(result).toBe("ok");
  });

  it("does not wait past the deadline: a wait that would end after it fails with reason deadline", async () => {
    let clock = 0;
    const failure = await retry(fail("slow"), {
      attempts: 5,
      backoff: () => 500,
      deadlineMs: 400,
      now: () => clock,
    }).catch((e) => e);
    expect(failure).toMatchObject({ reason: "deadline", attempts: 1 });
    clock = 401;
    const late = await retry(fail("never runs"), {
      attempts: 5,
      backoff: () => 0,
      deadlineMs: 400,
      now: () => clock,
    })
      .then(() => null)
      .catch((e) => e);
    expect(late).toMatchObject({ reason: "deadline", attempts: 0 });
  });

  it("hands each attempt a signal that aborts at the attempt timeout", async () => {
    const failure = await retry(
      (signal) =>
        new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
      { attempts: 2, attemptTimeoutMs: 5, backoff: () => 0 },
    ).catch((e) => e);
    expect(failure).toMatchObject({ reason: "exhausted", attempts: 2 });
    expect(((failure as RetryFailure).lastError as Error).name).toBe("TimeoutError");
  });

  it("stops when cancelled: before an attempt as aborted, during a wait with the signal's reason", async () => {
    const stopped = new AbortController();
    stopped.abort(new Error("shutdown"));
    const before = await retry(fail("x"), { attempts: 3, backoff: () => 0, signal: stopped.signal }).catch(
      (e) => e,
    );
    expect(before).toMatchObject({ reason: "aborted", attempts: 0 });

    const stop = new AbortController();
    const during = retry(fail("x"), {
      attempts: 3,
      backoff: () => 60_000,
      signal: stop.signal,
      onRetry: () => queueMicrotask(() => stop.abort(new Error("shutdown during wait"))),
    });
    await expect(during).rejects.toThrow("shutdown during wait");
  });
});
