/**
 * What the mining engine needs from the world, as narrow interfaces. The miner wires the real
 * chain client, checkpoint store, SGLang/vLLM server and proof pool behind them; the local network
 * (and tests) can plug in their own chain, store, trainer and sink without touching the engine.
 */
import type { PromptSpec, RewardResult } from "@grail/environments";
import type { Completion, SamplingPolicy } from "@grail/generation";
import type { CheckpointLoadMethod } from "@grail/metrics";
import type { CheckpointMetadata } from "@grail/storage";
import type { PoolModel, PoolStats, ProofContext, ProofGroup, ProvedGroup } from "../pool/types.js";

export type { PoolStats };

/** The chain as the window loop reads it. */
export interface MiningChain {
  /** Best head number. */
  currentBlock(): Promise<number>;
  /** `0x` + 64 hex: hash of block `block`. */
  blockHash(block: number): Promise<string>;
  /** Resolves with the head number once it is ≥ target; rejects when the signal aborts. */
  waitForBlock(target: number, signal?: AbortSignal): Promise<number>;
  /**
   * New-head notifications, when the chain offers them: every head feeds the block-time estimate,
   * so the time budget is right from the first window instead of learning only from its own reads.
   */
  subscribeHeads?(onHead: (block: number) => void): Promise<() => void>;
}

export interface WindowRandomnessValue {
  /** 64 hex, no 0x. */
  randomness: string;
  /** True only when a verified drand beacon went into the mix. */
  useDrand: boolean;
}

export interface RandomnessSource {
  /** Whether drand was asked for (a false `useDrand` then means it fell back). */
  readonly drandEnabled: boolean;
  forWindow(blockHash: string): Promise<WindowRandomnessValue>;
}

/** The trainer's checkpoints (spec/miner-pipeline.md §6), as a local directory per window. */
export interface CheckpointSource {
  /** The checkpoint valid for `window` (newest READY marker older than it), or null. */
  latestReadyCheckpoint(window: number): Promise<number | null>;
  /** DELTA metadata first, then FULL; null when neither exists. */
  getMetadata(checkpointWindow: number): Promise<CheckpointMetadata | null>;
  /** Makes the checkpoint available locally (cache, FULL download or DELTA reconstruction). */
  getCheckpoint(checkpointWindow: number): Promise<{ dir: string; method: CheckpointLoadMethod }>;
  /** Retention after a window (§6.8). */
  cleanupLocal?(currentWindow: number): Promise<unknown>;
}

/** The generation server (SGLang, vLLM or the native server). */
export interface GenerationPort {
  /** The directory whose weights the server is known to serve; null while unknown. */
  readonly loadedCheckpoint: string | null;
  /** Throws StaleWeightsError unless the server holds exactly `expectCheckpoint`. */
  generate(
    prompts: readonly (readonly number[])[],
    policy: SamplingPolicy,
    options: { expectCheckpoint: string },
  ): Promise<Completion[]>;
  syncWeights(checkpointDir: string): Promise<{ method: "in-place" | "restart"; durationMs: number }>;
}

/** The proof workers (ProofPool). */
export interface ProofPort {
  proveGroup(group: ProofGroup, context: ProofContext): Promise<ProvedGroup>;
  reload(model: PoolModel): Promise<{ gpu: number; outcome: "reloaded" | "restarted" | "unavailable" }[]>;
  stats(): PoolStats;
}

export interface Backends {
  generation: GenerationPort;
  proofs: ProofPort;
}

/** Starts the generation server and the proof workers on the first checkpoint (pipeline init). */
export type StartBackends = (checkpoint: { dir: string; window: number }) => Promise<Backends>;

/** A checkpoint's tokenizer: chat template rendering and ids (ChatTokenizer satisfies it). */
export interface MiningTokenizer {
  renderChat(
    messages: readonly { role: string; content: string }[],
    options?: {
      chatTemplate?: string;
      templateKwargs?: Record<string, unknown>;
      addGenerationPrompt?: boolean;
    },
  ): string;
  encode(text: string): Promise<number[]>;
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): Promise<string>;
}

/** One environment of a checkpoint (TaskEnvironment satisfies it). */
export interface MiningEnvironment<P = unknown> {
  problemForGroup(hotkeySs58: string, blockHash: string, group: number): Promise<P>;
  prompt(problem: P, mode: "native" | "instructed"): PromptSpec;
  score(problem: P, completion: string, mode: "native" | "instructed"): Promise<RewardResult>;
}

export type EnvironmentFactory = (
  envId: string,
  envParams: Readonly<Record<string, unknown>>,
) => MiningEnvironment;
