import { exponentialBackoff, RetryFailure, retry } from "@grail/util";
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

/** Rejects with ChainTimeoutError when `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChainTimeoutError(`${what} took longer than ${ms} ms`, { ms })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface CallRetryOptions {
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
  options: CallRetryOptions = {},
): Promise<T> {
  try {
    // The timeout races the call: a polkadot call takes no signal to abort it.
    return await retry(() => withTimeout(call(), policy.timeoutMs, what), {
      attempts: policy.attempts,
      backoff: exponentialBackoff({ baseMs: policy.backoffBaseMs }),
      ...(options.isRetryable ? { isRetryable: options.isRetryable } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onRetry: ({ error, attempt, delayMs }) => options.onRetry?.(error, attempt, delayMs),
    });
  } catch (error) {
    if (!(error instanceof RetryFailure)) throw error;
    if (error.reason !== "exhausted") throw error.lastError;
    const last = error.lastError;
    const reason = last instanceof Error ? last.message : String(last);
    throw new ChainCallError(
      `${what} failed after ${error.attempts} attempt(s): ${reason}. Check that the chain endpoint is reachable.`,
      { attempts: error.attempts },
      { cause: last },
    );
  }
}
