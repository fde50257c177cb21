import type { BasicLogger } from "@grail/log";
import { backoffSchedule, RetryFailure, retry } from "@grail/util";
import PQueue from "p-queue";
import {
  GenerationConfigError,
  GenerationError,
  GenerationRequestError,
  ResponseShapeError,
} from "./errors.js";
import { HttpBodyError, HttpStatusError } from "./http.js";
import { effectiveMaxNewTokens, fitsContext, validateSamplingPolicy } from "./sampling-policy.js";
import type { Completion, FinishReason, SamplingPolicy } from "./types.js";

/** How a generation request is retried: attempts in total and the waits between them. */
export interface RequestRetryPolicy {
  /** Total attempts, first one included. */
  attempts: number;
  /** Wait after failed attempt n (1-based) is backoffMs[min(n - 1, len - 1)]. */
  backoffMs: readonly number[];
  /** Errors for which another attempt makes no sense (malformed replies, 4xx). */
  isFatal?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** One prompt's answer as a backend reports it. */
export interface RawOutput {
  outputIds: number[];
  finishReason: FinishReason | null;
  matchedStop: number | string | null;
}

export interface BatchingOptions {
  maxModelLen: number;
  /** Prompts per HTTP request (GROUPS_PER_BATCH × 16 for SGLang's batch form). */
  promptsPerRequest: number;
  /** HTTP requests in flight at once. */
  maxConcurrentRequests: number;
  retry: RequestRetryPolicy;
  logger: BasicLogger;
  /** Awaited before every attempt (e.g. wait out a server restart). */
  beforeAttempt?: () => Promise<void>;
}

export function validateBatchingOptions(o: BatchingOptions): void {
  for (const [field, value] of [
    ["maxModelLen", o.maxModelLen],
    ["promptsPerRequest", o.promptsPerRequest],
    ["maxConcurrentRequests", o.maxConcurrentRequests],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new GenerationConfigError(`generation client option ${field}=${value} must be an integer ≥ 1`, {
        field,
        value,
      });
    }
  }
}

/** A finish reason that says the server gave up on the request; the attempt is repeated. */
export class AbortedOutputError extends GenerationError {}

function isFatal(error: unknown): boolean {
  if (error instanceof ResponseShapeError || error instanceof HttpBodyError) return true;
  if (error instanceof HttpStatusError) return !error.retryable;
  return false;
}

/**
 * Shared request plumbing of the SGLang and vLLM clients: context check (all or nothing), chunking
 * into requests, bounded concurrency, retries, and reassembly in prompt order.
 */
export class BatchedGenerator {
  private readonly queue: PQueue;

  constructor(
    private readonly options: BatchingOptions,
    private readonly send: (
      prompts: readonly (readonly number[])[],
      policy: SamplingPolicy,
      maxNewTokens: number,
    ) => Promise<RawOutput[]>,
    private readonly describe: () => string,
  ) {
    validateBatchingOptions(options);
    this.queue = new PQueue({ concurrency: options.maxConcurrentRequests });
  }

  /** Requests waiting for a concurrency slot plus those in flight. */
  get pendingRequests(): number {
    return this.queue.size + this.queue.pending;
  }

  async generate(prompts: readonly (readonly number[])[], policy: SamplingPolicy): Promise<Completion[]> {
    validateSamplingPolicy(policy);
    const maxNewTokens = effectiveMaxNewTokens(policy.maxNewTokens);
    const results: Completion[] = prompts.map((promptIds) => ({
      promptIds,
      outputIds: [],
      status: "skipped_context",
      finishReason: null,
      matchedStop: null,
    }));
    const sendable: number[] = [];
    prompts.forEach((p, i) => {
      if (fitsContext(p.length, maxNewTokens, this.options.maxModelLen)) sendable.push(i);
    });
    const skipped = prompts.length - sendable.length;
    if (skipped > 0) {
      this.options.logger.warn(
        `${skipped} prompt(s) skipped: prompt + ${maxNewTokens} new tokens exceeds the ${this.options.maxModelLen}-token context`,
      );
    }
    const chunks: number[][] = [];
    for (let i = 0; i < sendable.length; i += this.options.promptsPerRequest) {
      chunks.push(sendable.slice(i, i + this.options.promptsPerRequest));
    }
    await Promise.all(
      chunks.map((chunk) =>
        this.queue.add(async () => {
          const outputs = await this.sendWithRetries(
            chunk.map((i) => prompts[i]!),
            policy,
            maxNewTokens,
          );
          chunk.forEach((promptIndex, k) => {
            const out = outputs[k]!;
            results[promptIndex] = {
              promptIds: prompts[promptIndex]!,
              outputIds: out.outputIds,
              status: "generated",
              finishReason: out.finishReason,
              matchedStop: out.matchedStop,
            };
          });
        }),
      ),
    );
    return results;
  }

  private async sendWithRetries(
    prompts: readonly (readonly number[])[],
    policy: SamplingPolicy,
    maxNewTokens: number,
  ): Promise<RawOutput[]> {
    const { retry: retryPolicy, logger } = this.options;
    try {
      return await retry(
        async () => {
          await this.options.beforeAttempt?.();
          const outputs = await this.send(prompts, policy, maxNewTokens);
          if (outputs.length !== prompts.length) {
            throw new ResponseShapeError(
              `${this.describe()} answered ${outputs.length} outputs for ${prompts.length} prompts`,
              { expected: prompts.length, got: outputs.length },
            );
          }
          return outputs;
        },
        {
          attempts: retryPolicy.attempts,
          backoff: backoffSchedule(retryPolicy.backoffMs),
          isRetryable: (error) => !(isFatal(error) || (retryPolicy.isFatal?.(error) ?? false)),
          onRetry: ({ error, attempt, delayMs }) => {
            logger.warn(
              `${this.describe()} attempt ${attempt}/${retryPolicy.attempts} failed (${(error as Error).message}); retrying in ${delayMs} ms`,
            );
            retryPolicy.onRetry?.(error, attempt, delayMs);
          },
        },
      );
    } catch (failure) {
      const error = failure instanceof RetryFailure ? failure.lastError : failure;
      if (error instanceof ResponseShapeError) throw error;
      if (error instanceof HttpBodyError) {
        throw new ResponseShapeError(
          `${this.describe()} answered a body that is not JSON; is the port serving the generation server?`,
          { body: error.body.slice(0, 200) },
          { cause: error },
        );
      }
      const status = error instanceof HttpStatusError ? error.status : undefined;
      throw new GenerationRequestError(
        `${this.describe()} failed for a request of ${prompts.length} prompts${status ? ` (HTTP ${status})` : ""}: ${(error as Error).message}`,
        { prompts: prompts.length, status, attempts: retryPolicy.attempts },
        { cause: error },
      );
    }
  }
}

export function isTokenIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => Number.isInteger(v) && (v as number) >= 0);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
