import { setTimeout as sleep } from "node:timers/promises";
import { type Completion, StaleWeightsError } from "@grail/generation";
import type { Logger } from "@grail/log";
import type { DropReason } from "@grail/metrics";
import { ROLLOUTS_PER_PROBLEM, WINDOW_LENGTH, windowStart as windowOf } from "@grail/protocol";
import { GroupDrop, type PreparedGroup, prepareGroup, proveScoreAndPackage } from "./window-group.js";
import type {
  StopReason,
  WindowCounters,
  WindowRunDeps,
  WindowRunInput,
  WindowRunSummary,
} from "./window-run-types.js";

export type {
  SchedulerSettings,
  StopReason,
  WindowCounters,
  WindowRunDeps,
  WindowRunInput,
  WindowRunSummary,
} from "./window-run-types.js";

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
        // An abort ends the wait early; the loop then sees the stop.
        const wait = sleep(1_000, undefined, { signal: stopSignal }).catch(() => undefined);
        await Promise.race([...this.inflight, wait]);
        continue;
      }

      const indices = Array.from({ length: size }, (_, i) => nextGroup + i);
      nextGroup += indices.length;
      let prepared: PreparedGroup[];
      try {
        prepared = await Promise.all(indices.map((i) => prepareGroup(this.input, this.hotkey, i, block)));
      } catch (err) {
        this.log.error("could not build the window's problems; generation stops for this window", {
          error: (err as Error).message,
        });
        stopReason = "problem_failed";
        break;
      }
      this.counters.groupsDispatched += prepared.length;
      const outcome = await this.untilSeal(this.generateBatch(prepared));
      if (outcome === "sealed") {
        // The call goes on; its groups are dropped unproved when it returns (see generateBatch).
        this.log.warn("a generate call is still running at the seal time; its groups miss this window", {
          groups: indices,
        });
        stopReason = "sealed";
        break;
      }
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
      const sealed = sleep(Math.max(0, sealAt - this.now()), undefined, { signal: settled.signal });
      await Promise.race([waitAll, sealed.catch(() => undefined)]);
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

  /**
   * Waits for `work` but not past the seal time, re-read every second as block estimates move: a
   * generate call that outlives the window must not hold back the upload of what is already proved.
   */
  private async untilSeal<T>(work: Promise<T>): Promise<T | "sealed"> {
    const { budget } = this.deps;
    let done = false;
    const tracked = work.finally(() => {
      done = true;
    });
    for (;;) {
      const left = budget.sealMs(this.windowStart, this.now()) - this.now();
      if (left <= 0) {
        this.sealed = true;
        const late = tracked.then(
          () => undefined,
          () => undefined,
        );
        this.inflight.add(late);
        void late.finally(() => this.inflight.delete(late));
        return "sealed";
      }
      const tick = new AbortController();
      const wait = sleep(Math.min(left, 1_000), undefined, { signal: tick.signal }).catch(() => undefined);
      await Promise.race([tracked, wait]);
      tick.abort();
      if (done) return tracked;
    }
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
    if (this.sealed) {
      for (const g of groups) this.drop(g.index, "window_closed", "generated after the window was sealed");
      return "ok";
    }
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
      const rows = await proveScoreAndPackage(
        this.input,
        this.deps,
        this.counters,
        () => this.now(),
        g,
        completions,
      );
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
}
