import { ChainCallError, ChainTimeoutError } from "./errors.js";

/** Per-call limits of every protected chain read (spec/chain.md §2; env BT_CALL_*). */
export interface CallPolicy {
  /** Limit of one attempt. */
  readonly timeoutMs: number;
  /** Attempts in total, at least 1. */
  readonly attempts: number;
  /** Wait before retry n (0-based) is `backoffBaseMs * 2^n`. */
  readonly backoffBaseMs: number;
}

export const DEFAULT_CALL_POLICY: CallPolicy = { timeoutMs: 15_000, attempts: 3, backoffBaseMs: 5_000 };

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

/** Rejects with ChainTimeoutError when `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChainTimeoutError(`${what} took longer than ${ms} ms`, { ms })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface RetryOptions {
  readonly signal?: AbortSignal;
  /** Errors for which another attempt cannot help (e.g. a decoding bug) are rethrown at once. */
  readonly isRetryable?: (error: unknown) => boolean;
  /** Called before each wait, so the caller can log or reconnect. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `call` under `policy`: each attempt is bounded by the timeout, failures are
 * retried with exponential backoff, and after the last attempt a ChainCallError
 * carrying the last cause is thrown.
 */
export async function callWithRetry<T>(
  what: string,
  call: () => Promise<T>,
  policy: CallPolicy = DEFAULT_CALL_POLICY,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, Math.floor(policy.attempts));
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await withTimeout(call(), policy.timeoutMs, what);
    } catch (error) {
      lastError = error;
      if (options.isRetryable && !options.isRetryable(error)) throw error;
      if (attempt + 1 >= attempts) break;
      const delayMs = policy.backoffBaseMs * 2 ** attempt;
      options.onRetry?.(error, attempt + 1, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new ChainCallError(
    `${what} failed after ${attempts} attempt(s): ${reason}. Check that the chain endpoint is reachable.`,
    { attempts },
    { cause: lastError },
  );
}
