/**
 * The trainer's sampling policy for one window, as the miner hands it over after reading the
 * checkpoint's `generation_params` (validated upstream). `maxNewTokens` may still exceed the protocol
 * cap; every client clamps it.
 */
export interface SamplingPolicy {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  /** 0 or null: no top-k (the field is omitted from the request). */
  topK: number | null;
  /** null: server default (the field is omitted). */
  repetitionPenalty: number | null;
}

export type FinishReason = "stop" | "length" | "abort";

/** Outcome for one prompt, in the order the prompts were given. */
export interface Completion {
  promptIds: readonly number[];
  /** Completion token ids, including the stop token when generation stopped on one. */
  outputIds: number[];
  /**
   * `generated`: the server produced `outputIds`.
   * `skipped_context`: prompt + max_new_tokens does not fit the context; nothing was sent and
   * `outputIds` is empty (the group fails the length gate and is dropped, never half-clamped).
   */
  status: "generated" | "skipped_context";
  finishReason: FinishReason | null;
  /** The stop token (or string) the server matched, when it reports one. */
  matchedStop: number | string | null;
}

/** What every backend client offers the miner. */
export interface GenerationClient {
  generate(prompts: readonly (readonly number[])[], policy: SamplingPolicy): Promise<Completion[]>;
}
