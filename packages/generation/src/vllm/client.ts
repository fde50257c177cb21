import { type BasicLogger, silentLogger } from "@grail/log";
import {
  BatchedGenerator,
  isRecord,
  isTokenIdList,
  type RawOutput,
  type RequestRetryPolicy,
} from "../batching.js";
import { ResponseShapeError } from "../errors.js";
import { httpJson } from "../http.js";
import { DEFAULT_RETRY } from "../sglang/client.js";
import type { Completion, FinishReason, GenerationClient, SamplingPolicy } from "../types.js";

export interface VllmClientOptions {
  baseUrl: string | (() => string);
  /** Served model name (`vllm_active` for the miner's launch). */
  model: string;
  maxModelLen: number;
  /** Prompts per /v1/completions call (the reference sends 1; a list of token-id lists also works). */
  promptsPerRequest?: number;
  maxConcurrentRequests: number;
  requestTimeoutMs?: number;
  retry?: RequestRetryPolicy;
  beforeAttempt?: () => Promise<void>;
  logger?: BasicLogger;
}

const TOKEN_ID_TEXT = /^(?:token_id:)?(\d+)$/;

function tokenIdsOf(choice: Record<string, unknown>): number[] | null {
  if (isTokenIdList(choice.token_ids)) return choice.token_ids;
  const logprobs = choice.logprobs;
  if (isRecord(logprobs) && Array.isArray(logprobs.tokens)) {
    const ids: number[] = [];
    for (const t of logprobs.tokens) {
      if (typeof t === "number" && Number.isInteger(t) && t >= 0) ids.push(t);
      else if (typeof t === "string" && TOKEN_ID_TEXT.test(t)) ids.push(Number(TOKEN_ID_TEXT.exec(t)![1]));
      else return null;
    }
    return ids;
  }
  return null;
}

/** Parses an OpenAI completions answer with vLLM's `token_ids` extension into outputs by prompt index. */
export function parseVllmCompletions(answer: unknown, expected: number): RawOutput[] {
  if (!isRecord(answer) || !Array.isArray(answer.choices)) {
    throw new ResponseShapeError("/v1/completions answer has no choices list", {
      sample: JSON.stringify(answer)?.slice(0, 200),
    });
  }
  const outputs: (RawOutput | undefined)[] = Array.from({ length: expected }, () => undefined);
  answer.choices.forEach((choice, position) => {
    if (!isRecord(choice)) throw new ResponseShapeError(`choice ${position} is not an object`, { position });
    const index = choice.index === undefined ? position : choice.index;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= expected) {
      throw new ResponseShapeError(`choice ${position} has index ${String(index)} outside [0, ${expected})`, {
        position,
      });
    }
    const ids = tokenIdsOf(choice);
    if (ids === null) {
      throw new ResponseShapeError(
        `choice ${position} carries neither token_ids nor integer logprobs.tokens; start vLLM ≥ 0.10 and send return_token_ids`,
        { keys: Object.keys(choice) },
      );
    }
    const fr = choice.finish_reason;
    const finishReason: FinishReason | null = fr === "stop" || fr === "length" || fr === "abort" ? fr : null;
    const sr = choice.stop_reason;
    outputs[index as number] = {
      outputIds: ids,
      finishReason,
      matchedStop: typeof sr === "number" || typeof sr === "string" ? sr : null,
    };
  });
  const missing = outputs.indexOf(undefined);
  if (missing >= 0 || outputs.length !== expected) {
    throw new ResponseShapeError(`/v1/completions answered no choice for prompt ${missing}`, { expected });
  }
  return outputs as RawOutput[];
}

/** vLLM's OpenAI-compatible completions with token-id prompts (strict mode of spec §4.5). */
export class VllmClient implements GenerationClient {
  private readonly batcher: BatchedGenerator;
  private readonly baseUrl: () => string;
  private readonly timeoutMs: number;

  constructor(private readonly options: VllmClientOptions) {
    const base = options.baseUrl;
    this.baseUrl = typeof base === "string" ? () => base : base;
    this.timeoutMs = options.requestTimeoutMs ?? 300_000;
    this.batcher = new BatchedGenerator(
      {
        maxModelLen: options.maxModelLen,
        promptsPerRequest: options.promptsPerRequest ?? 1,
        maxConcurrentRequests: options.maxConcurrentRequests,
        retry: options.retry ?? DEFAULT_RETRY,
        logger: options.logger ?? silentLogger,
        ...(options.beforeAttempt ? { beforeAttempt: options.beforeAttempt } : {}),
      },
      (p, policy, n) => this.send(p, policy, n),
      () => `vLLM /v1/completions at ${this.baseUrl()}`,
    );
  }

  generate(prompts: readonly (readonly number[])[], policy: SamplingPolicy): Promise<Completion[]> {
    return this.batcher.generate(prompts, policy);
  }

  private async send(
    prompts: readonly (readonly number[])[],
    policy: SamplingPolicy,
    maxNewTokens: number,
  ): Promise<RawOutput[]> {
    const body: Record<string, unknown> = {
      model: this.options.model,
      prompt: prompts.length === 1 ? prompts[0] : prompts,
      max_tokens: maxNewTokens,
      temperature: policy.temperature,
      top_p: policy.topP,
      n: 1,
      return_token_ids: true,
      skip_special_tokens: false,
      spaces_between_special_tokens: false,
      include_stop_str_in_output: true,
    };
    if (policy.topK !== null && policy.topK > 0) body.top_k = policy.topK;
    if (policy.repetitionPenalty !== null) body.repetition_penalty = policy.repetitionPenalty;
    const answer = await httpJson("POST", `${this.baseUrl()}/v1/completions`, body, {
      timeoutMs: this.timeoutMs,
    });
    return parseVllmCompletions(answer, prompts.length);
  }
}
