/**
 * Retry loop with exponential backoff, ±jitter and an absolute deadline
 * (spec/miner-pipeline.md §7.3). A window upload is worthless after the window's
 * deadline, so the deadline bounds both the per-attempt timeout and the sleeps.
 */

export interface RetryPolicy {
  /** Attempts in total (first try included). */
  maxAttempts: number;
  /** Timeout of a single attempt; shortened to the time left before the deadline. */
  attemptTimeoutMs: number;
  baseDelayMs: number;
  capDelayMs: number;
  /** Larger backoff when the store signals throttling (SlowDown, 429, …). */
  throttleBaseDelayMs: number;
  throttleCapDelayMs: number;
  /** Relative jitter, 0.25 = ±25 %. */
  jitter: number;
  floorDelayMs: number;
}

/** §7.3 upload defaults: 3 attempts, 90 s per attempt, 1 s/32 s (2 s/60 s when throttled), ±25 %. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 3,
  attemptTimeoutMs: 90_000,
  baseDelayMs: 1_000,
  capDelayMs: 32_000,
  throttleBaseDelayMs: 2_000,
  throttleCapDelayMs: 60_000,
  jitter: 0.25,
  floorDelayMs: 100,
});

const THROTTLE_MARKERS = ["slowdown", "429", "requestlimitexceeded", "throttl"];

export function isThrottlingError(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status === 429) return true;
  const text = `${errorName(err)} ${errorMessage(err)}`.toLowerCase();
  return THROTTLE_MARKERS.some((m) => text.includes(m));
}

/** Backoff before attempt `attempt + 1` (attempt counts from 0). */
export function backoffDelayMs(
  attempt: number,
  throttled: boolean,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const base = throttled ? policy.throttleBaseDelayMs : policy.baseDelayMs;
  const cap = throttled ? policy.throttleCapDelayMs : policy.capDelayMs;
  const raw = Math.min(base * 2 ** attempt, cap);
  const jittered = raw * (1 + policy.jitter * (2 * random() - 1));
  return Math.max(policy.floorDelayMs, jittered);
}

export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  if (meta && typeof meta.httpStatusCode === "number") return meta.httpStatusCode;
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === "number" ? status : undefined;
}

export function errorName(err: unknown): string {
  if (typeof err === "object" && err !== null && "name" in err)
    return String((err as { name: unknown }).name);
  return "";
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Errors that cannot succeed on a retry: missing objects, rejected credentials and
 * other client errors. Network failures, timeouts, 5xx, 408 and 429 are retried.
 */
export function isRetryableError(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status !== undefined) {
    if (status === 408 || status === 429) return true;
    return status >= 500;
  }
  const name = errorName(err);
  if (name === "NoSuchKey" || name === "NotFound" || name === "NoSuchBucket") return false;
  if (name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch" || name === "AccessDenied")
    return false;
  return true;
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Absolute epoch ms after which no attempt starts and none is kept running. */
  deadlineMs?: number;
  /** Cancels the whole operation (shutdown). */
  signal?: AbortSignal;
  isRetryable?: (err: unknown) => boolean;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  now?: () => number;
}

/** Raised by {@link withRetries}; callers translate it into a domain error with bucket/key context. */
export class RetryFailure extends Error {
  constructor(
    readonly reason: "deadline" | "exhausted" | "fatal" | "aborted",
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`${reason} after ${attempts} attempt(s): ${errorMessage(lastError)}`, { cause: lastError });
    this.name = "RetryFailure";
  }
}

export async function withRetries<T>(
  op: (signal: AbortSignal, attempt: number) => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  const now = opts.now ?? Date.now;
  const retryable = opts.isRetryable ?? isRetryableError;
  const { policy } = opts;
  let lastError: unknown = new Error("no attempt was made");
  for (let attempt = 0; attempt < policy.maxAttempts; attempt++) {
    if (opts.signal?.aborted) throw new RetryFailure("aborted", attempt, opts.signal.reason ?? lastError);
    let timeoutMs = policy.attemptTimeoutMs;
    if (opts.deadlineMs !== undefined) {
      const left = opts.deadlineMs - now();
      if (left <= 0) throw new RetryFailure("deadline", attempt, lastError);
      timeoutMs = Math.min(timeoutMs, left);
    }
    // AbortSignal.timeout only takes whole milliseconds; a deadline can leave a fraction.
    const attemptSignal = combineSignals(AbortSignal.timeout(Math.ceil(timeoutMs)), opts.signal);
    try {
      return await op(attemptSignal, attempt);
    } catch (err) {
      lastError = err;
      if (opts.signal?.aborted) throw new RetryFailure("aborted", attempt + 1, err);
      if (!retryable(err)) throw new RetryFailure("fatal", attempt + 1, err);
      if (attempt + 1 >= policy.maxAttempts) break;
      const delayMs = backoffDelayMs(attempt, isThrottlingError(err), policy);
      if (opts.deadlineMs !== undefined && now() + delayMs >= opts.deadlineMs) {
        throw new RetryFailure("deadline", attempt + 1, err);
      }
      opts.onRetry?.({ attempt: attempt + 1, delayMs, error: err });
      await sleep(delayMs, opts.signal);
    }
  }
  throw new RetryFailure("exhausted", policy.maxAttempts, lastError);
}

function combineSignals(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  return b ? AbortSignal.any([a, b]) : a;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
