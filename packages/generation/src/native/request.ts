/**
 * The HTTP side of the native generation server: request bodies read and checked the way SGLang
 * and vLLM check them (4xx with their error body), sampling parameters turned into a generator
 * request, and JSON answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GenerationError } from "../errors.js";
import type { NativeFinish, NativeRequest } from "./engine.js";
import type { LogitsModel } from "./logits-model.js";
import type { SeededRandom } from "./sampler.js";

/** A 4xx answer with SGLang's error body `{"error": {"message": …}}`. */
export class RequestError extends GenerationError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message, { status });
  }
}

/** SamplingParams fields SGLang accepts; unknown ones are rejected as SGLang's constructor would. */
export const SGLANG_SAMPLING_KEYS = new Set([
  "max_new_tokens",
  "min_new_tokens",
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "repetition_penalty",
  "frequency_penalty",
  "presence_penalty",
  "stop",
  "stop_token_ids",
  "stop_regex",
  "ignore_eos",
  "skip_special_tokens",
  "spaces_between_special_tokens",
  "no_stop_trim",
  "n",
  "sampling_seed",
  "json_schema",
  "regex",
  "ebnf",
  "structural_tag",
  "custom_params",
  "logit_bias",
]);

export function num(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new RequestError(400, `${field} must be a number`);
  return value;
}

export function int(value: unknown, field: string, fallback: number): number {
  const v = num(value, field, fallback);
  if (!Number.isInteger(v)) throw new RequestError(400, `${field} must be an integer`);
  return v;
}

export function tokenLists(value: unknown, field: string): { lists: number[][]; single: boolean } {
  if (!Array.isArray(value) || value.length === 0)
    throw new RequestError(400, `${field} must be a non-empty list`);
  const isIdList = (v: unknown): v is number[] =>
    Array.isArray(v) && v.every((t) => typeof t === "number" && Number.isInteger(t) && t >= 0);
  if (isIdList(value)) return { lists: [value], single: true };
  if (value.every(isIdList)) return { lists: value as number[][], single: false };
  throw new RequestError(400, `${field} must be a list of token ids or a list of such lists`);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestError(400, "request body is not valid JSON");
  }
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Sampling parameters of one prompt, from either API, before they are checked. */
export interface SamplingInput {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
  stopTokenIds: number[];
  ignoreEos: boolean;
  seed: number | null;
}

/** Checks one prompt's parameters against the model and the context length; seeds it if unseeded. */
export function buildRequest(
  inputIds: number[],
  p: SamplingInput,
  model: LogitsModel,
  contextLength: number,
  seeds: SeededRandom,
): NativeRequest {
  const { vocabSize, eosTokenId } = model.info;
  if (inputIds.some((t) => t >= vocabSize)) {
    throw new RequestError(400, `input token id outside the vocabulary of ${vocabSize}`);
  }
  if (p.maxNewTokens < 0) throw new RequestError(400, "max_new_tokens must be non-negative");
  if (p.temperature < 0) throw new RequestError(400, "temperature must be non-negative");
  if (!(p.topP > 0 && p.topP <= 1)) throw new RequestError(400, "top_p must be in (0, 1]");
  if (!(p.repetitionPenalty > 0 && p.repetitionPenalty <= 2)) {
    throw new RequestError(400, "repetition_penalty must be in (0, 2]");
  }
  if (inputIds.length + p.maxNewTokens > contextLength) {
    throw new RequestError(
      400,
      `Requested token count exceeds the model's maximum context length of ${contextLength} tokens. You requested a total of ${inputIds.length + p.maxNewTokens} tokens: ${inputIds.length} tokens from the input messages and ${p.maxNewTokens} tokens for the completion.`,
    );
  }
  const stops = new Set(p.stopTokenIds);
  if (!p.ignoreEos && eosTokenId !== null) stops.add(eosTokenId);
  return {
    inputIds,
    maxNewTokens: p.maxNewTokens,
    params: {
      temperature: p.temperature,
      topP: p.topP,
      topK: p.topK,
      repetitionPenalty: p.repetitionPenalty,
    },
    stopTokenIds: stops,
    seed: p.seed ?? Math.floor(seeds.next() * 4294967296),
  };
}

export function finishReason(f: NativeFinish): Record<string, unknown> {
  if (f.type === "stop") return { type: "stop", matched: f.matched };
  if (f.type === "length") return { type: "length", length: f.length };
  return { type: "abort", message: f.message };
}
