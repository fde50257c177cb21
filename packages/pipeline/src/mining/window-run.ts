import { assembleGroup, INSTRUCTED_CHAT_TEMPLATE, type Problem } from "@grail/environments";
import { type Completion, StaleWeightsError } from "@grail/generation";
import type { Logger } from "@grail/log";
import type { DropReason, MinerMetrics } from "@grail/metrics";
import { CHALLENGE_K, ROLLOUTS_PER_PROBLEM, WINDOW_LENGTH, windowStart as windowOf } from "@grail/protocol";
import { GroupDroppedError, StaleCheckpointError } from "../pool/errors.js";
import type { HotkeySigner, ProvedGroup } from "../pool/types.js";
import type { TimeBudget } from "./budget.js";
import { type PackagingRollout, packageGroup, type WindowIdentity } from "./packaging.js";
import type { GenerationPort, MiningChain, MiningEnvironment, MiningTokenizer, ProofPort } from "./ports.js";
import type { WindowTask } from "./sampling.js";
import type { WindowSink } from "./window-sink.js";

export interface SchedulerSettings {
  /** GRAIL_PIPELINE_GROUPS_PER_BATCH: groups (×16 prompts) per generate call. */
  groupsPerBatch: number;
  /**
   * Groups generated but not yet packaged (rewards and proofs running or queued) above which the
   * next generate call waits: the proof side is saturated. Default 2 × groupsPerBatch, i.e. one
   * batch being proved while the next one is generated.
   */
  maxPendingGroups?: number;
  /** Generate calls failing in a row before the window's generation stops. Default 3. */
  maxConsecutiveGenerationFailures?: number;
}

/** Why a window stopped starting batches. */
export type StopReason =
  | "time_budget"
  | "window_rolled_over"
  | "sealed"
  | "stopping"
  | "stale_weights"
  | "generation_failing"
  | "problem_failed"
  | "chain_unavailable";

export interface WindowCounters {
  groupsDispatched: number;
  groupsGenerated: number;
  groupsProved: number;
  groupsPackaged: number;
  rolloutsPackaged: number;
  groupsDropped: number;
  dropped: Partial<Record<DropReason, number>>;
  batches: number;
}

export interface WindowRunSummary extends WindowCounters {
  windowStart: number;
  stopReason: StopReason;
  /** Problem indices dispatched: 0 … nextGroup − 1 (gaps where groups were dropped). */
  nextGroup: number;
  startedAtMs: number;
  sealedAtMs: number;
}

export interface WindowRunInput {
  identity: WindowIdentity;
  /** The directory the generation server must be serving. */
  checkpointDir: string;
  task: WindowTask;
  env: MiningEnvironment;
  tokenizer: MiningTokenizer;
}

export interface WindowRunDeps {
  chain: MiningChain;
  generation: GenerationPort;
  proofs: ProofPort;
  sink: WindowSink;
  signer: HotkeySigner;
  budget: TimeBudget;
  metrics: MinerMetrics;
  logger: Logger;
  settings: SchedulerSettings;
  /** Aborted when the miner is asked to stop: no new batch starts. */
  stopSignal: AbortSignal;
  now?: () => number;
  /** Called after every generate call (watchdog heartbeat, progress). */
  onBatch?: () => void;
  /** Reads the head and feeds the budget's block-time EMA; defaults to chain.currentBlock. */
  readBlock?: () => Promise<number>;
}

interface PreparedGroup {
  index: number;
  block: number;
  problem: unknown;
  promptIds: number[];
}

class GroupDrop extends Error {
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, Math.max(0, ms));
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Mines one window: dispatches GROUPS_PER_BATCH groups per generate call with problem indices
 * assigned in order at dispatch time; while batch N+1 generates, batch N is rewarded, proved on
 * the pool, signed and packaged (double buffering); generation waits only when the proof side
 * holds more than `maxPendingGroups` groups. A group that finishes is packaged and handed to the
 * sink at once, so nothing that happens later in the window can lose it; groups finishing after
 * the seal time are dropped (`window_closed`).
 */
export class WindowRun {
  readonly counters: WindowCounters = {
    groupsDispatched: 0,
    groupsGenerated: 0,
    groupsProved: 0,
    groupsPackaged: 0,
    rolloutsPackaged: 0,
    groupsDropped: 0,
    dropped: {},
    batches: 0,
  };
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly maxFailures: number;
  private pendingGroups = 0;
  private readonly inflight = new Set<Promise<void>>();
  private sealed = false;
  private readonly log: Logger;
  private readonly hotkey: string;

  constructor(
    private readonly input: WindowRunInput,
    private readonly deps: WindowRunDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.maxPending = deps.settings.maxPendingGroups ?? 2 * deps.settings.groupsPerBatch;
    this.maxFailures = deps.settings.maxConsecutiveGenerationFailures ?? 3;
    this.log = deps.logger.child({ window: input.identity.windowStart });
    this.hotkey = deps.signer.ss58;
  }

  get windowStart(): number {
    return this.input.identity.windowStart;
  }

  /** Groups generated and not yet packaged or dropped. */
  get pending(): number {
    return this.pendingGroups;
  }

  async run(): Promise<WindowRunSummary> {
    const startedAtMs = this.now();
    const W = this.windowStart;
    const { budget, stopSignal } = this.deps;
    const readBlock = this.deps.readBlock ?? (() => this.deps.chain.currentBlock());
    let nextGroup = 0;
    let failures = 0;
    let stopReason: StopReason;

    for (;;) {
      if (stopSignal.aborted) {
        stopReason = "stopping";
        break;
      }
      let block: number;
      try {
        block = await readBlock();
      } catch (err) {
        this.log.warn("chain read failed mid-window; no further batch is started", {
          error: (err as Error).message,
        });
        stopReason = "chain_unavailable";
        break;
      }
      this.deps.metrics.windowBlocksLeft.set(Math.max(0, W + WINDOW_LENGTH - block));
      if (windowOf(block) > W) {
        stopReason = "window_rolled_over";
        break;
      }
      const size = budget.groupsThatFit(W, block, this.deps.settings.groupsPerBatch);
      if (size === 0) {
        stopReason = "time_budget";
        break;
      }
      if (this.now() >= budget.sealMs(W, this.now())) {
        stopReason = "sealed";
        break;
      }
      if (this.pendingGroups >= this.maxPending && this.inflight.size > 0) {
        // Backpressure: the proof side is saturated; wait for a batch to finish, then re-check.
        await Promise.race([...this.inflight, sleep(1_000, stopSignal)]);
        continue;
      }

      const indices = Array.from({ length: size }, (_, i) => nextGroup + i);
      nextGroup += indices.length;
      let prepared: PreparedGroup[];
      try {
        prepared = await Promise.all(indices.map((i) => this.prepare(i, block)));
      } catch (err) {
        this.log.error("could not build the window's problems; generation stops for this window", {
          error: (err as Error).message,
        });
        stopReason = "problem_failed";
        break;
      }
      this.counters.groupsDispatched += prepared.length;
      const outcome = await this.generateBatch(prepared);
      this.deps.onBatch?.();
      if (outcome === "stale") {
        stopReason = "stale_weights";
        break;
      }
      if (outcome === "failed") {
        failures++;
        if (failures >= this.maxFailures) {
          this.log.error("generation failed repeatedly; no further batch is started in this window", {
            failures,
          });
          stopReason = "generation_failing";
          break;
        }
        continue;
      }
      failures = 0;
    }

    // Let the batches in flight finish until the seal time; later groups are dropped.
    const sealAt = budget.sealMs(W, this.now());
    if (this.inflight.size > 0) {
      const waitAll = Promise.allSettled([...this.inflight]).then(() => undefined);
      // The seal timer is cleared once everything settled: it must not outlive the window.
      const settled = new AbortController();
      await Promise.race([waitAll, sleep(sealAt - this.now(), settled.signal)]);
      settled.abort();
    }
    this.sealed = true;
    const summary: WindowRunSummary = {
      ...this.counters,
      dropped: { ...this.counters.dropped },
      windowStart: W,
      stopReason,
      nextGroup,
      startedAtMs,
      sealedAtMs: this.now(),
    };
    return summary;
  }

  /** Resolves when every group of the window has settled (packaged or dropped). */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private async prepare(index: number, block: number): Promise<PreparedGroup> {
    const { env, tokenizer, task, identity } = this.input;
    const problem = await env.problemForGroup(this.hotkey, identity.blockHash, index);
    const spec = env.prompt(problem, task.thinkingMode);
    const text = tokenizer.renderChat(spec.messages, {
      addGenerationPrompt: spec.addGenerationPrompt,
      ...(spec.chatTemplate === "protocol-chatml" ? { chatTemplate: INSTRUCTED_CHAT_TEMPLATE } : {}),
      ...(spec.enableThinking === undefined
        ? {}
        : { templateKwargs: { enable_thinking: spec.enableThinking } }),
    });
    return { index, block, problem, promptIds: await tokenizer.encode(text) };
  }

  /** One generate call for the batch; its groups then proceed on their own. */
  private async generateBatch(groups: PreparedGroup[]): Promise<"ok" | "failed" | "stale"> {
    const { generation, metrics, budget } = this.deps;
    const prompts: number[][] = [];
    for (const g of groups) for (let r = 0; r < ROLLOUTS_PER_PROBLEM; r++) prompts.push(g.promptIds);
    const dispatchedAt = this.now();
    const stop = metrics.stageDuration.startTimer("generation");
    let completions: Completion[];
    try {
      completions = await generation.generate(prompts, this.input.task.policy, {
        expectCheckpoint: this.input.checkpointDir,
      });
      stop();
    } catch (err) {
      stop();
      const stale = err instanceof StaleWeightsError;
      for (const g of groups) {
        this.drop(g.index, stale ? "stale_checkpoint" : "generation_failed", (err as Error).message);
      }
      this.log.warn(
        stale ? "generation refused: stale weights" : "generate call failed; its groups are dropped",
        {
          groups: groups.map((g) => g.index),
          error: (err as Error).message,
        },
      );
      return stale ? "stale" : "failed";
    }
    this.counters.batches++;
    if (completions.length !== prompts.length) {
      for (const g of groups) {
        this.drop(
          g.index,
          "generation_failed",
          `${completions.length} completions for ${prompts.length} prompts`,
        );
      }
      return "failed";
    }
    metrics.rolloutsGenerated.inc(completions.length);
    metrics.groupsGenerated.inc(groups.length);
    this.counters.groupsGenerated += groups.length;
    const genMs = this.now() - dispatchedAt;
    const tokens = completions.reduce((a, c) => a + c.outputIds.length, 0);
    this.log.info("batch generated", {
      groups: groups.map((g) => g.index),
      prompts: prompts.length,
      genMs,
      completionTokens: tokens,
      tokensPerSecond: genMs > 0 ? Math.round((tokens / genMs) * 1000) : null,
      pendingGroups: this.pendingGroups,
    });
    const batch = Promise.all(
      groups.map((g, i) =>
        this.processGroup(g, completions.slice(i * ROLLOUTS_PER_PROBLEM, (i + 1) * ROLLOUTS_PER_PROBLEM)),
      ),
    ).then(() => {
      const cap = WINDOW_LENGTH * budget.blockSeconds;
      const batchMs = this.now() - dispatchedAt;
      budget.observeBatch(Math.min(cap, batchMs / 1000), groups.length, this.deps.settings.groupsPerBatch);
      this.log.info("batch settled", { groups: groups.map((g) => g.index), batchMs, genMs });
    });
    this.inflight.add(batch);
    void batch.finally(() => this.inflight.delete(batch));
    return "ok";
  }

  private drop(group: number, reason: DropReason, message: string): void {
    this.counters.groupsDropped++;
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
    this.deps.metrics.groupsDropped.inc(reason);
    this.deps.metrics.rolloutsDropped.inc(reason, ROLLOUTS_PER_PROBLEM);
    this.log.debug("group dropped", { group, reason, detail: message });
  }

  private async processGroup(g: PreparedGroup, completions: Completion[]): Promise<void> {
    this.pendingGroups++;
    try {
      const rows = await this.proveScoreAndPackage(g, completions);
      if (this.sealed) throw new GroupDrop("window_closed", "finished after the window was sealed");
      this.deps.sink.add(this.windowStart, rows);
      this.counters.groupsPackaged++;
      this.counters.rolloutsPackaged += rows.length;
      this.deps.metrics.groupsPackaged.inc();
    } catch (err) {
      if (err instanceof GroupDrop) this.drop(g.index, err.reason, err.message);
      else this.drop(g.index, "generation_failed", `unexpected: ${(err as Error).message}`);
    } finally {
      this.pendingGroups--;
    }
  }

  private async proveScoreAndPackage(g: PreparedGroup, completions: Completion[]) {
    const { identity, task, env, tokenizer } = this.input;
    const { metrics } = this.deps;
    if (completions.some((c) => c.status === "skipped_context")) {
      throw new GroupDrop("context_overflow", "prompt + max_new_tokens exceeds the server context");
    }
    const short = completions.findIndex((c) => c.outputIds.length < CHALLENGE_K);
    if (short >= 0) {
      throw new GroupDrop(
        "generation_failed",
        `completion ${short} has ${completions[short]!.outputIds.length} < ${CHALLENGE_K} tokens`,
      );
    }
    const promptLength = g.promptIds.length;
    const tokens = completions.map((c) => {
      const t = new Int32Array(promptLength + c.outputIds.length);
      t.set(g.promptIds, 0);
      t.set(c.outputIds, promptLength);
      return t;
    });

    // Proofs start first: they are the long pole; rewards run meanwhile.
    const stopProof = metrics.stageDuration.startTimer("proof");
    const proof = this.deps.proofs
      .proveGroup(
        {
          groupId: `${identity.windowStart}:${g.index}`,
          rollouts: tokens.map((t) => ({ tokens: t, promptLen: promptLength })),
        },
        {
          randomnessHex: identity.randomness,
          modelName: identity.modelName,
          checkpointWindow: identity.checkpointWindow,
        },
      )
      .finally(stopProof);
    const stopReward = metrics.stageDuration.startTimer("reward");
    const scored = Promise.all(
      completions.map(async (c) =>
        env.score(
          g.problem,
          await tokenizer.decode(c.outputIds, { skipSpecialTokens: false }),
          task.thinkingMode,
        ),
      ),
    ).finally(stopReward);
    const [proofResult, rewardResult] = await Promise.allSettled([proof, scored]);

    if (rewardResult.status === "rejected") {
      throw new GroupDrop("reward_failed", (rewardResult.reason as Error).message);
    }
    const group = assembleGroup(g.problem as Problem, rewardResult.value);
    if (group.dropReason) throw new GroupDrop("reward_failed", group.dropReason);
    if (proofResult.status === "rejected") {
      const e = proofResult.reason as Error;
      throw new GroupDrop(
        e instanceof StaleCheckpointError ? "stale_checkpoint" : "proof_failed",
        e instanceof GroupDroppedError ? e.reason : e.message,
      );
    }
    const proved: ProvedGroup = proofResult.value;
    this.counters.groupsProved++;
    metrics.rolloutsProved.inc(proved.rollouts.length);
    for (const r of group.rollouts) metrics.rolloutReward.observe(r.reward);

    const rollouts: PackagingRollout[] = proved.rollouts.map((p, i) => ({
      tokens: tokens[i]!,
      promptLength,
      reward: group.rollouts[i]!.reward,
      advantage: group.rollouts[i]!.advantage,
      success: group.rollouts[i]!.success,
      sVals: p.sVals,
      logprobs: p.logprobs,
      commitSignature: p.signature,
    }));
    const stopPack = metrics.stageDuration.startTimer("packaging");
    try {
      return packageGroup(
        identity,
        { groupIndex: g.index, block: g.block, rollouts },
        this.deps.signer,
        this.now() / 1000,
      );
    } catch (err) {
      throw new GroupDrop("signing_failed", (err as Error).message);
    } finally {
      stopPack();
    }
  }
}
