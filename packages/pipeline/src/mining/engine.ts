import { setTimeout as sleep } from "node:timers/promises";
import { WINDOW_LENGTH, windowStart as windowOf } from "@grail/protocol";
import type { CheckpointMetadata } from "@grail/storage";
import { TimeBudget } from "./budget.js";
import { CheckpointSwitch } from "./checkpoint-switch.js";
import type { MiningEngineDeps, MiningProgress, WindowReport } from "./engine-types.js";
import { type FatalMiningError, MiningError, WindowSkippedError, type WindowSkipReason } from "./errors.js";
import { classifyWindowError } from "./policy.js";
import type { Backends } from "./ports.js";
import { type WindowTask, windowTaskFromMetadata } from "./sampling.js";
import { WindowPublisher } from "./window-publish.js";
import { type StopReason, WindowRun, type WindowRunSummary } from "./window-run.js";
import type { WindowUploadOutcome } from "./window-sink.js";

export { modelNameOf } from "./checkpoint-switch.js";
export type { EngineSettings, MiningEngineDeps, MiningProgress, WindowReport } from "./engine-types.js";

/** Skips a restart cannot help: nothing to mine yet, the trainer's metadata is bad, or the miner is stopping. */
const EXCUSED_SKIPS: ReadonlySet<WindowSkipReason> = new Set([
  "no_checkpoint",
  "metadata_invalid",
  "stopping",
]);

/**
 * The window loop (spec/miner-pipeline.md §3): waits for each new window, switches checkpoint
 * (generation server and every proof worker reloaded in place), reads the sampling policy from the
 * checkpoint's metadata, mines the window with the batch scheduler and publishes the window file
 * before the deadline. Fixes over the reference (§11): a window's finished groups are published
 * whatever fails later in it; generation never runs on weights other than the proofs' (a failed
 * sync skips the window instead); a newer checkpoint that cannot be loaded skips the window rather
 * than mining rows validators would reject; upload failures are failures, with the file kept and
 * retried until the deadline.
 *
 * Checkpoint switching is in checkpoint-switch.ts, publishing the window file in window-publish.ts.
 */
export class MiningEngine {
  readonly budget: TimeBudget;
  private readonly now: () => number;
  private readonly stopController = new AbortController();
  private readonly checkpointSwitch: CheckpointSwitch;
  private readonly publisher: WindowPublisher;
  private run: WindowRun | null = null;
  private readonly reports: WindowReport[] = [];
  private readonly listeners = new Set<(r: WindowReport) => void>();
  private readonly progressState: MiningProgress = {
    phase: "starting",
    window: null,
    block: null,
    blocksLeft: null,
    checkpointWindow: null,
    groupsGenerated: 0,
    groupsProved: 0,
    groupsPackaged: 0,
    groupsDropped: 0,
    rolloutsPackaged: 0,
    rolloutsPerSecond: 0,
    upload: "idle",
    lastUploadedWindow: null,
    windowsMined: 0,
  };
  private windowStartedAt = 0;
  private stopReason: string | null = null;
  private fatal: FatalMiningError | null = null;

  constructor(private readonly deps: MiningEngineDeps) {
    this.budget = new TimeBudget(deps.settings);
    this.now = deps.now ?? Date.now;
    this.checkpointSwitch = new CheckpointSwitch(deps, this.now);
    this.publisher = new WindowPublisher(deps, this.budget, this.progressState, this.now, () => this.beat());
  }

  /** The generation server and proof pool once started (null before the first checkpoint). */
  get started(): Backends | null {
    return this.checkpointSwitch.backends;
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Asks the loop to stop: no new batch starts; the window in progress is published if it can be. */
  stop(reason = "stop requested"): void {
    if (this.stopping) return;
    this.stopReason = reason;
    this.progressState.phase = "stopping";
    this.deps.logger.notice("stopping: finishing the window in progress", { reason });
    this.stopController.abort(new MiningError(reason));
  }

  /**
   * Stops like stop(), then makes runLoop reject with `error` once the window in progress is
   * published: the watchdog's way out, so the miner exits 1 and a supervisor restarts it.
   */
  fail(error: FatalMiningError): void {
    this.fatal ??= error;
    this.stop(error.message);
  }

  onWindow(listener: (r: WindowReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  windowReports(): readonly WindowReport[] {
    return this.reports;
  }

  progress(): MiningProgress {
    const p = { ...this.progressState };
    const run = this.run;
    if (run) {
      const c = run.counters;
      p.groupsGenerated = c.groupsGenerated;
      p.groupsProved = c.groupsProved;
      p.groupsPackaged = c.groupsPackaged;
      p.groupsDropped = c.groupsDropped;
      p.rolloutsPackaged = c.rolloutsPackaged;
      const secs = (this.now() - this.windowStartedAt) / 1000;
      p.rolloutsPerSecond = secs > 0 ? c.rolloutsPackaged / secs : 0;
    }
    if (p.window !== null && p.block !== null) p.blocksLeft = Math.max(0, p.window + WINDOW_LENGTH - p.block);
    return p;
  }

  private beat(): void {
    this.deps.progress?.beat();
  }

  /** Tells the watchdog how window W ended; a retried upload counts once its last retry settled. */
  private windowEnded(W: number, upload: WindowUploadOutcome | null): void {
    const progress = this.deps.progress;
    if (!progress) return;
    if (upload?.retrying) {
      void upload.final.then(
        (o) => progress.windowEnded(W, o.status === "uploaded" ? "uploaded" : "no_upload"),
        () => progress.windowEnded(W, "no_upload"),
      );
      return;
    }
    progress.windowEnded(W, upload?.status === "uploaded" ? "uploaded" : "no_upload");
  }

  private async readBlock(): Promise<number> {
    const block = await this.deps.chain.currentBlock();
    this.budget.observeBlock(block, this.now());
    this.deps.metrics.chainBlock.set(block);
    this.progressState.block = block;
    return block;
  }

  /**
   * Runs until stop() (resolves) or a failure that needs a process restart (rejects with an error
   * carrying `exitCode`: PipelineInitError, or the FatalMiningError given to fail()).
   */
  async runLoop(): Promise<void> {
    const { logger, sink } = this.deps;
    const signal = this.stopController.signal;
    try {
      const recovered = await sink.recoverSpool();
      if (recovered.retried + recovered.discarded > 0)
        logger.notice("spooled window files from an earlier run", recovered);
    } catch (err) {
      logger.warn("could not check the upload spool", { error: (err as Error).message });
    }
    let unsubscribeHeads: (() => void) | null = null;
    try {
      unsubscribeHeads =
        (await this.deps.chain.subscribeHeads?.((block) => {
          this.budget.observeBlock(block, this.now());
          this.deps.metrics.chainBlock.set(block);
          this.progressState.block = block;
        })) ?? null;
    } catch (err) {
      logger.warn("no new-head notifications; the block time is learned from reads only", {
        error: (err as Error).message,
      });
    }
    let lastWindow = -1;
    let lastWaitLog = 0;
    // A window whose attempts failed; it counts as ended without an upload once the chain moves on.
    let failing: number | null = null;
    // Loop passes are not progress: a loop that only skips or fails must not look alive.
    while (!signal.aborted) {
      let block: number;
      try {
        block = await this.readBlock();
      } catch (err) {
        logger.warn("chain read failed; retrying", { error: (err as Error).message });
        await sleep(this.deps.settings.retryDelayMs ?? 10_000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const W = windowOf(block);
      if (failing !== null && W !== failing) {
        this.deps.progress?.windowEnded(failing, "no_upload");
        failing = null;
      }
      if (W <= lastWindow) {
        this.progressState.phase = "waiting";
        if (this.now() - lastWaitLog > 120_000) {
          logger.info("waiting for the next window", { block, next: lastWindow + WINDOW_LENGTH });
          lastWaitLog = this.now();
        }
        try {
          await this.deps.chain.waitForBlock(lastWindow + WINDOW_LENGTH, signal);
        } catch (err) {
          if (signal.aborted) break;
          logger.warn("waiting for the next window failed; retrying", { error: (err as Error).message });
          await sleep(2_000, undefined, { signal }).catch(() => undefined);
        }
        continue;
      }
      try {
        const upload = await this.mineWindow(W, block);
        lastWindow = W;
        failing = null;
        this.windowEnded(W, upload);
      } catch (err) {
        const action = classifyWindowError(err);
        if (action.action === "exit") throw err;
        if (action.action === "skip_window") {
          lastWindow = W;
          failing = null;
          this.skipped(W, action.reason, err as Error);
          this.deps.progress?.windowEnded(W, EXCUSED_SKIPS.has(action.reason) ? "excused" : "no_upload");
          continue;
        }
        if (signal.aborted) break;
        failing = W;
        logger.error("window failed; retrying while it is current", {
          window: W,
          error: (err as Error).message,
          stack: (err as Error).stack,
        });
        await sleep(this.deps.settings.retryDelayMs ?? 10_000, undefined, { signal }).catch(() => undefined);
      }
    }
    unsubscribeHeads?.();
    this.progressState.phase = "stopped";
    await this.run?.settled();
    await sink.idle();
    logger.notice("mining stopped", { reason: this.stopReason ?? "loop ended" });
    if (this.fatal) throw this.fatal;
  }

  private skipped(W: number, reason: WindowSkipReason, err: Error): void {
    this.progressState.phase = "waiting";
    const level =
      reason === "too_late" || reason === "no_checkpoint" || reason === "stopping" ? "info" : "warn";
    this.deps.logger[level]("window skipped", { window: W, reason, error: err.message });
  }

  /** One window from checkpoint to upload; returns the upload (null when nothing was packaged). */
  private async mineWindow(W: number, block: number): Promise<WindowUploadOutcome | null> {
    const { logger, metrics, checkpoints } = this.deps;
    const signal = this.stopController.signal;
    this.progressState.window = W;
    metrics.window.set(W);
    metrics.windowBlocksLeft.set(W + WINDOW_LENGTH - block);
    if (!this.budget.mayStartBatch(W, block)) {
      throw new WindowSkippedError(
        "too_late",
        `only ${W + WINDOW_LENGTH - block} blocks of window ${W} left; ${this.budget.neededBlocks()} are needed for a batch and the upload`,
        { block, needed: this.budget.neededBlocks() },
      );
    }

    this.progressState.phase = "loading";
    const ckpt = await this.checkpointSwitch.ensureCheckpoint(W);
    this.progressState.checkpointWindow = ckpt.window;
    this.beat();
    let meta: CheckpointMetadata | null;
    try {
      meta = await checkpoints.getMetadata(ckpt.window);
    } catch (err) {
      throw new WindowSkippedError(
        "metadata_invalid",
        `checkpoint ${ckpt.window} metadata: ${(err as Error).message}`,
        {},
        err,
      );
    }
    if (!meta) {
      throw new WindowSkippedError("metadata_invalid", `checkpoint ${ckpt.window} has no metadata.json`, {
        checkpointWindow: ckpt.window,
      });
    }
    const task: WindowTask = windowTaskFromMetadata(meta);
    const env = this.deps.environments(task.envId, task.envParams);
    const blockHash = await this.deps.chain.blockHash(W);
    const rand = await this.deps.randomness.forWindow(blockHash);
    if (this.deps.randomness.drandEnabled && !rand.useDrand) metrics.drandFallbacks.inc();
    if (signal.aborted) throw new WindowSkippedError("stopping", "stopping before the window started");

    const backends = this.checkpointSwitch.backends!;
    const run = new WindowRun(
      {
        identity: {
          windowStart: W,
          blockHash,
          randomness: rand.randomness,
          useDrand: rand.useDrand,
          checkpointWindow: ckpt.window,
          modelName: ckpt.modelName,
        },
        checkpointDir: ckpt.dir,
        task,
        env,
        tokenizer: ckpt.tokenizer,
      },
      {
        chain: this.deps.chain,
        generation: backends.generation,
        proofs: backends.proofs,
        sink: this.deps.sink,
        signer: this.deps.signer,
        budget: this.budget,
        metrics,
        logger,
        settings: this.deps.settings,
        stopSignal: signal,
        now: this.now,
        onBatch: () => this.beat(),
        readBlock: () => this.readBlock(),
      },
    );
    this.run = run;
    this.windowStartedAt = this.now();
    this.progressState.phase = "mining";
    this.progressState.upload = "idle";
    logger.info("mining window", {
      window: W,
      block,
      checkpoint: ckpt.window,
      env: task.envId,
      maxNewTokens: task.policy.maxNewTokens,
      useDrand: rand.useDrand,
      neededBlocks: this.budget.neededBlocks(),
    });
    let summary: WindowRunSummary;
    try {
      summary = await run.run();
    } catch (err) {
      // Unexpected: whatever was packaged is still published below.
      logger.error("window run failed; publishing the groups finished so far", {
        window: W,
        error: (err as Error).message,
      });
      summary = {
        ...run.counters,
        windowStart: W,
        stopReason: "stopping" as StopReason,
        nextGroup: 0,
        startedAtMs: this.windowStartedAt,
        sealedAtMs: this.now(),
      };
    }
    const upload = await this.publisher.publish(W, summary.rolloutsPackaged);
    const report: WindowReport = { windowStart: W, checkpointWindow: ckpt.window, run: summary, upload };
    this.reports.push(report);
    this.progressState.windowsMined++;
    this.publisher.summaryLine(report, this.run?.pending ?? 0);
    for (const l of this.listeners) l(report);
    try {
      await checkpoints.cleanupLocal?.(W);
    } catch (err) {
      logger.warn("checkpoint cache cleanup failed", { error: (err as Error).message });
    }
    return upload;
  }
}
