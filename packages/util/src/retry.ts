import { setTimeout as sleep } from "node:timers/promises";
import { GrailError } from "@grail/protocol";

/** Wait before the next attempt, from the failed attempt's number (1 = the first) and its error. */
export type Backoff = (attempt: number, error: unknown) => number;

export interface ExponentialBackoffOptions {
  /** Wait after the first failed attempt; it doubles after each further one. */
  readonly baseMs: number;
  /** Longest wait before jitter. Default: no limit. */
  readonly capMs?: number;
  /** Relative jitter, 0.25 = ±25 %. Default 0. */
  readonly jitter?: number;
  /** Shortest wait after jitter. Default 0. */
  readonly floorMs?: number;
  readonly random?: () => number;
}

/** `baseMs · 2^(attempt-1)`, capped, jittered, floored. */
export function exponentialBackoff(o: ExponentialBackoffOptions): Backoff {
  const random = o.random ?? Math.random;
  return (attempt) => {
    const raw = Math.min(o.baseMs * 2 ** (attempt - 1), o.capMs ?? Number.POSITIVE_INFINITY);
    const jittered = o.jitter ? raw * (1 + o.jitter * (2 * random() - 1)) : raw;
    return Math.max(o.floorMs ?? 0, jittered);
  };
}

/** The waits in order; the last one repeats. */
export function backoffSchedule(delaysMs: readonly number[]): Backoff {
  return (attempt) => delaysMs[Math.min(attempt - 1, delaysMs.length - 1)] ?? 0;
}

export interface RetryInfo {
  /** The attempt that failed, 1 = the first. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface RetryOptions {
  /** Attempts in total, the first included; at least 1. */
  readonly attempts: number;
  readonly backoff: Backoff;
  /** Errors another attempt cannot fix end the loop at once. Default: every error is retried. */
  readonly isRetryable?: (error: unknown) => boolean;
  /** Limit of one attempt, through the signal the attempt gets; shortened to the time left before the deadline. */
  readonly attemptTimeoutMs?: number;
  /** Absolute epoch ms after which no attempt starts and no wait would end. */
  readonly deadlineMs?: number;
  /** Cancels the whole operation (shutdown). */
  readonly signal?: AbortSignal;
  /** Called before each wait, so the caller can log or reconnect. */
  readonly onRetry?: (info: RetryInfo) => void;
  readonly now?: () => number;
}

export type RetryFailureReason = "deadline" | "exhausted" | "fatal" | "aborted";

/** Why {@link retry} gave up; callers translate it into a domain error with their own context. */
export class RetryFailure extends GrailError {
  constructor(
    readonly reason: RetryFailureReason,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(
      `${reason} after ${attempts} attempt(s): ${messageOf(lastError)}`,
      { reason, attempts },
      { cause: lastError },
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `op` until it succeeds, waiting `backoff` between attempts. Every way out but success is a
 * RetryFailure, except an abort during a wait, which rethrows the signal's reason.
 */
export async function retry<T>(
  op: (signal: AbortSignal, attempt: number) => Promise<T>,
  o: RetryOptions,
): Promise<T> {
  const now = o.now ?? Date.now;
  const attempts = Math.max(1, Math.floor(o.attempts));
  let lastError: unknown = new Error("no attempt was made");
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (o.signal?.aborted) throw new RetryFailure("aborted", attempt - 1, o.signal.reason ?? lastError);
    let timeoutMs = o.attemptTimeoutMs;
    if (o.deadlineMs !== undefined) {
      const left = o.deadlineMs - now();
      if (left <= 0) throw new RetryFailure("deadline", attempt - 1, lastError);
      timeoutMs = Math.min(timeoutMs ?? left, left);
    }
    try {
      return await op(attemptSignal(timeoutMs, o.signal), attempt);
    } catch (error) {
      lastError = error;
      if (o.signal?.aborted) throw new RetryFailure("aborted", attempt, error);
      if (o.isRetryable && !o.isRetryable(error)) throw new RetryFailure("fatal", attempt, error);
      if (attempt >= attempts) break;
      const delayMs = o.backoff(attempt, error);
      if (o.deadlineMs !== undefined && now() + delayMs >= o.deadlineMs) {
        throw new RetryFailure("deadline", attempt, error);
      }
      o.onRetry?.({ attempt, delayMs, error });
      if (delayMs > 0) await wait(delayMs, o.signal);
    }
  }
  throw new RetryFailure("exhausted", attempts, lastError);
}

function attemptSignal(timeoutMs: number | undefined, signal: AbortSignal | undefined): AbortSignal {
  // AbortSignal.timeout only takes whole milliseconds; a deadline can leave a fraction.
  const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(Math.ceil(timeoutMs));
  if (timeout && signal) return AbortSignal.any([timeout, signal]);
  return timeout ?? signal ?? new AbortController().signal;
}

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
}
