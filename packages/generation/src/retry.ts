export interface RetryOptions {
  /** Total attempts, first one included. */
  attempts: number;
  /** Sleep before attempt i+1 is backoffMs[min(i, len-1)]. */
  backoffMs: readonly number[];
  /** Errors for which another attempt makes no sense (malformed replies, 4xx). */
  isFatal?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `fn` until it succeeds or the attempts are spent; rethrows the last error. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      lastError = error;
      if (options.isFatal?.(error) || attempt === options.attempts) break;
      const delay = options.backoffMs[Math.min(attempt - 1, options.backoffMs.length - 1)] ?? 0;
      options.onRetry?.(error, attempt, delay);
      if (delay > 0) await sleep(delay);
    }
  }
  throw lastError;
}
