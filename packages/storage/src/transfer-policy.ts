import { type Backoff, exponentialBackoff } from "@grail/util";

/**
 * How object-store transfers are retried (spec/miner-pipeline.md §7.3): exponential backoff with
 * ±jitter, larger when the store throttles, and which failures another attempt can fix. The loop
 * itself, with the window deadline bounding attempts and waits, is @grail/util's `retry`.
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

/** The wait after failed attempt n (1-based): the throttling schedule when the store asked to slow down. */
export function transferBackoff(policy: RetryPolicy, random: () => number = Math.random): Backoff {
  const schedule = (baseMs: number, capMs: number) =>
    exponentialBackoff({ baseMs, capMs, jitter: policy.jitter, floorMs: policy.floorDelayMs, random });
  const normal = schedule(policy.baseDelayMs, policy.capDelayMs);
  const throttled = schedule(policy.throttleBaseDelayMs, policy.throttleCapDelayMs);
  return (attempt, error) => (isThrottlingError(error) ? throttled : normal)(attempt, error);
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
