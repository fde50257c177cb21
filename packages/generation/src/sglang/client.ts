import { type BasicLogger, silentLogger } from "@grail/log";
import {
  AbortedOutputError,
  BatchedGenerator,
  isRecord,
  isTokenIdList,
  type RawOutput,
  type RequestRetryPolicy,
} from "../batching.js";
import { ResponseShapeError } from "../errors.js";
import { httpJson } from "../http.js";
import type { Completion, FinishReason, GenerationClient, SamplingPolicy } from "../types.js";

export interface SglangClientOptions {
  /** Base URL, or a getter (the port changes when the supervisor restarts the server). */
  baseUrl: string | (() => string);
  /** GRAIL_PIPELINE_MAX_MODEL_LEN: prompts that cannot fit their whole budget are not sent. */
  maxModelLen: number;
  /** GROUPS_PER_BATCH × 16: prompts carried by one /generate call. */
  promptsPerRequest: number;
  /** Concurrent /generate calls (GRAIL_PIPELINE_MAX_CONCURRENT mapped by the miner). */
  maxConcurrentRequests: number;
  /** Per-request timeout (GRAIL_PIPELINE_SERVER_TIMEOUT, default 300 s). */
  requestTimeoutMs?: number;
  /** Default: 3 attempts, 1 s then 2 s apart (spec §4.3). */
  retry?: RequestRetryPolicy;
  beforeAttempt?: () => Promise<void>;
  logger?: BasicLogger;
}

export const DEFAULT_RETRY: RequestRetryPolicy = { attempts: 3, backoffMs: [1_000, 2_000] };

/** `sampling_params` of GenerateReqInput; top_k / repetition_penalty omitted when unset (server default). */
export function sglangSamplingParams(policy: SamplingPolicy, maxNewTokens: number): Record<string, number> {
  const params: Record<string, number> = {
    max_new_tokens: maxNewTokens,
    temperature: policy.temperature,
    top_p: policy.topP,
  };
  if (policy.topK !== null && policy.topK > 0) params.top_k = policy.topK;
  if (policy.repetitionPenalty !== null) params.repetition_penalty = policy.repetitionPenalty;
  return params;
}

const FINISH_TYPES: ReadonlySet<string> = new Set(["stop", "length", "abort"]);

/**
 * Validates one element of a /generate answer: `output_ids` (top level, as SGLang 0.5.x returns it for
 * both text and token-id outputs) and `meta_info.finish_reason` = null | {type, matched?|length?|message?}.
 */
export function parseSglangOutput(item: unknown, index: number): RawOutput {
  if (!isRecord(item)) {
    throw new ResponseShapeError(`/generate output ${index} is not an object`, { index, item });
  }
  const ids = item.output_ids;
  if (!isTokenIdList(ids)) {
    throw new ResponseShapeError(
      `/generate output ${index} has no integer list "output_ids"; is the server an SGLang /generate endpoint (0.5.x)?`,
      { index, keys: Object.keys(item) },
    );
  }
  let finishReason: FinishReason | null = null;
  let matchedStop: number | string | null = null;
  const meta = item.meta_info;
  if (meta !== undefined && meta !== null) {
    if (!isRecord(meta))
      throw new ResponseShapeError(`/generate output ${index}: meta_info is not an object`, { index });
    const fr = meta.finish_reason;
    if (fr !== undefined && fr !== null) {
      if (!isRecord(fr) || typeof fr.type !== "string" || !FINISH_TYPES.has(fr.type)) {
        throw new ResponseShapeError(
          `/generate output ${index}: unexpected finish_reason ${JSON.stringify(fr)}`,
          {
            index,
          },
        );
      }
      finishReason = fr.type as FinishReason;
      if (typeof fr.matched === "number" || typeof fr.matched === "string") matchedStop = fr.matched;
      if (finishReason === "abort") {
        throw new AbortedOutputError(
          `server aborted output ${index}: ${typeof fr.message === "string" ? fr.message : "no message"}`,
        );
      }
    }
  }
  return { outputIds: ids, finishReason, matchedStop };
}

/**
 * Client of SGLang's native `/generate`: token ids in, token ids out, many prompts per call in the
 * documented batch form (`input_ids: List[List[int]]`, one shared `sampling_params`), which SGLang
 * answers with a list of outputs in request order.
 */
export class SglangClient implements GenerationClient {
  private readonly batcher: BatchedGenerator;
  private readonly baseUrl: () => string;
  private readonly timeoutMs: number;

  constructor(options: SglangClientOptions) {
    const base = options.baseUrl;
    this.baseUrl = typeof base === "string" ? () => base : base;
    this.timeoutMs = options.requestTimeoutMs ?? 300_000;
    const batching = {
      maxModelLen: options.maxModelLen,
      promptsPerRequest: options.promptsPerRequest,
      maxConcurrentRequests: options.maxConcurrentRequests,
      retry: options.retry ?? DEFAULT_RETRY,
      logger: options.logger ?? silentLogger,
      ...(options.beforeAttempt ? { beforeAttempt: options.beforeAttempt } : {}),
    };
    this.batcher = new BatchedGenerator(
      batching,
      (p, policy, n) => this.send(p, policy, n),
      () => `SGLang /generate at ${this.baseUrl()}`,
    );
  }

  get pendingRequests(): number {
    return this.batcher.pendingRequests;
  }

  generate(prompts: readonly (readonly number[])[], policy: SamplingPolicy): Promise<Completion[]> {
    return this.batcher.generate(prompts, policy);
  }

  private async send(
    prompts: readonly (readonly number[])[],
    policy: SamplingPolicy,
    maxNewTokens: number,
  ): Promise<RawOutput[]> {
    const body = {
      input_ids: prompts,
      sampling_params: sglangSamplingParams(policy, maxNewTokens),
    };
    const answer = await httpJson("POST", `${this.baseUrl()}/generate`, body, { timeoutMs: this.timeoutMs });
    if (!Array.isArray(answer)) {
      throw new ResponseShapeError(
        `/generate answered ${answer === null ? "null" : typeof answer} to a batch request; SGLang answers a batch with a list`,
        { sample: JSON.stringify(answer)?.slice(0, 200) },
      );
    }
    return answer.map((item, i) => parseSglangOutput(item, i));
  }
}
