import type { LogitsModel } from "./logits-model.js";
import { type NativeSamplingParams, SeededRandom, sampleToken } from "./sampler.js";

export interface NativeRequest {
  inputIds: readonly number[];
  maxNewTokens: number;
  params: NativeSamplingParams;
  /** Generation stops after emitting any of these (the stop token is kept in the output). */
  stopTokenIds: ReadonlySet<number>;
  seed: number;
}

export type NativeFinish =
  | { type: "stop"; matched: number }
  | { type: "length"; length: number }
  | { type: "abort"; message: string };

export interface NativeResult {
  outputIds: number[];
  finishReason: NativeFinish;
}

interface Sequence {
  tokens: number[];
  output: number[];
  request: NativeRequest;
  random: SeededRandom;
  resolve: (r: NativeResult) => void;
}

/**
 * Continuous batching over a LogitsModel: every step asks the model for the last-position logits of
 * all running sequences at once, samples one token each, and retires finished sequences, admitting
 * waiting ones up to `maxRunningRequests`. Weight swaps drain the running set first.
 */
export class NativeGenerator {
  private readonly waiting: Sequence[] = [];
  private running: Sequence[] = [];
  private looping = false;
  private paused = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private modelValue: LogitsModel | null,
    private readonly maxRunningRequests: number,
  ) {}

  get model(): LogitsModel | null {
    return this.modelValue;
  }

  get activeSequences(): number {
    return this.running.length + this.waiting.length;
  }

  submit(request: NativeRequest): Promise<NativeResult> {
    return new Promise((resolve) => {
      this.waiting.push({
        tokens: [...request.inputIds],
        output: [],
        request,
        random: new SeededRandom(request.seed),
        resolve,
      });
      void this.loop();
    });
  }

  /** Stops admitting, waits for running sequences to finish, then runs `fn` (e.g. a weight swap). */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.paused = true;
    try {
      if (this.running.length > 0) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
      return await fn();
    } finally {
      this.paused = false;
      void this.loop();
    }
  }

  /** Replaces the model (null: weights dropped, as vLLM's sleep level 2 does). */
  setModel(model: LogitsModel | null): void {
    const old = this.modelValue;
    this.modelValue = model;
    if (old && old !== model) old.close?.();
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      for (;;) {
        while (!this.paused && this.running.length < this.maxRunningRequests && this.waiting.length > 0) {
          this.running.push(this.waiting.shift()!);
        }
        if (this.running.length === 0) break;
        const model = this.modelValue;
        if (!model) {
          for (const s of this.running) {
            s.resolve({
              outputIds: s.output,
              finishReason: { type: "abort", message: "model weights are not loaded" },
            });
          }
          this.running = [];
          continue;
        }
        let logits: Float32Array[];
        try {
          logits = await model.lastLogits(this.running.map((s) => s.tokens));
        } catch (error) {
          for (const s of this.running) {
            s.resolve({
              outputIds: s.output,
              finishReason: { type: "abort", message: (error as Error).message },
            });
          }
          this.running = [];
          continue;
        }
        const still: Sequence[] = [];
        this.running.forEach((s, i) => {
          const token = sampleToken(logits[i]!, s.tokens, s.request.params, s.random);
          s.tokens.push(token);
          s.output.push(token);
          if (s.request.stopTokenIds.has(token)) {
            s.resolve({ outputIds: s.output, finishReason: { type: "stop", matched: token } });
          } else if (s.output.length >= s.request.maxNewTokens) {
            s.resolve({ outputIds: s.output, finishReason: { type: "length", length: s.output.length } });
          } else {
            still.push(s);
          }
        });
        this.running = still;
        if (this.running.length === 0) this.notifyIdle();
        // Let HTTP handlers run between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.looping = false;
      this.notifyIdle();
    }
  }

  private notifyIdle(): void {
    if (this.running.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
