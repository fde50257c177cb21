import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Logger } from "@grail/log";
import type { MinerMetrics } from "@grail/metrics";
import { WINDOW_LENGTH, windowStart as windowOf } from "@grail/protocol";
import type { CheckpointMetadata } from "@grail/storage";
import type { HotkeySigner } from "../pool/types.js";
import { type BudgetSettings, TimeBudget } from "./budget.js";
import {
  type FatalMiningError,
  MiningError,
  PipelineInitError,
  WindowSkippedError,
  type WindowSkipReason,
} from "./errors.js";
import { classifyWindowError } from "./policy.js";
import type {
  Backends,
  CheckpointSource,
  EnvironmentFactory,
  MiningChain,
  MiningTokenizer,
  RandomnessSource,
  StartBackends,
} from "./ports.js";
import { type WindowTask, windowTaskFromMetadata } from "./sampling.js";
import type { ProgressReporter } from "./watchdog.js";
import { type SchedulerSettings, type StopReason, WindowRun, type WindowRunSummary } from "./window-run.js";
import type { WindowSink, WindowUploadOutcome } from "./window-sink.js";

export interface EngineSettings extends SchedulerSettings, BudgetSettings {
  /** Pause before retrying a window after an unexpected error. Default 10 s (the reference's). */
  retryDelayMs?: number;
}

export interface MiningEngineDeps {
  chain: MiningChain;
  randomness: RandomnessSource;
  checkpoints: CheckpointSource;
  startBackends: StartBackends;
  loadTokenizer: (checkpointDir: string) => Promise<MiningTokenizer>;
  environments: EnvironmentFactory;
  sink: WindowSink;
  signer: HotkeySigner;
  metrics: MinerMetrics;
  logger: Logger;
  settings: EngineSettings;
  /** Told when work gets done (a checkpoint load, each batch, each upload) and how each window ended. */
  progress?: ProgressReporter;
  now?: () => number;
}

/** What the progress line and the status endpoint show. */
export interface MiningProgress {
  phase: "starting" | "waiting" | "loading" | "mining" | "uploading" | "stopping" | "stopped";
  window: number | null;
  block: number | null;
  blocksLeft: number | null;
  checkpointWindow: number | null;
  groupsGenerated: number;
  groupsProved: number;
  groupsPackaged: number;
  groupsDropped: number;
  rolloutsPackaged: number;
  /** Packaged rollouts per second over the window so far. */
  rolloutsPerSecond: number;
  upload: "idle" | "writing" | "uploading" | "retrying" | "uploaded" | "failed";
  lastUploadedWindow: number | null;
  windowsMined: number;
}

export interface WindowReport {
  windowStart: number;
  checkpointWindow: number;
  run: WindowRunSummary;
  upload: WindowUploadOutcome | null;
}

interface LoadedCheckpoint {
  window: number;
  dir: string;
  tokenizer: MiningTokenizer;
  modelName: string;
}

/** Skips a restart cannot help: nothing to mine yet, the trainer's metadata is bad, or the miner is stopping. */
const EXCUSED_SKIPS: ReadonlySet<WindowSkipReason> = new Set([
  "no_checkpoint",
  "metadata_invalid",
  "stopping",
]);

const abortable = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * The window loop (spec/miner-pipeline.md §3): waits for each new window, switches checkpoint
 * (generation server and every proof worker reloaded in place), reads the sampling policy from the
 * checkpoint's metadata, mines the window with the batch scheduler and publishes the window file
 * before the deadline. Fixes over the reference (§11): a window's finished groups are published
 * whatever fails later in it; generation never runs on weights other than the proofs' (a failed
 * sync skips the window instead); a newer checkpoint that cannot be loaded skips the window rather
 * than mining rows validators would reject; upload failures are failures, with the file kept and
 * retried until the deadline.
 */
export class MiningEngine {
  readonly budget: TimeBudget;
  private readonly now: () => number;
  private readonly stopController = new AbortController();
  private backends: Backends | null = null;
  private current: LoadedCheckpoint | null = null;
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
  }

  /** The generation server and proof pool once started (null before the first checkpoint). */
  get started(): Backends | null {
    return this.backends;
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
        await abortable(this.deps.settings.retryDelayMs ?? 10_000, signal);
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
          await abortable(2_000, signal);
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
        await abortable(this.deps.settings.retryDelayMs ?? 10_000, signal);
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
    const ckpt = await this.ensureCheckpoint(W);
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

    const backends = this.backends!;
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
    const upload = await this.publish(W, summary.rolloutsPackaged);
    const report: WindowReport = { windowStart: W, checkpointWindow: ckpt.window, run: summary, upload };
    this.reports.push(report);
    this.progressState.windowsMined++;
    this.summaryLine(report);
    for (const l of this.listeners) l(report);
    try {
      await checkpoints.cleanupLocal?.(W);
    } catch (err) {
      logger.warn("checkpoint cache cleanup failed", { error: (err as Error).message });
    }
    return upload;
  }

  private async publish(W: number, rows: number): Promise<WindowUploadOutcome | null> {
    const { metrics, sink, signer, logger } = this.deps;
    if (rows === 0) {
      sink.discard(W);
      metrics.emptyWindows.inc();
      return null;
    }
    this.progressState.phase = "uploading";
    this.progressState.upload = "writing";
    const stopUpload = metrics.stageDuration.startTimer("upload");
    const outcome = await sink.publish(W, {
      hotkey: signer.ss58,
      deadlineMs: this.budget.deadlineMs(W, this.now()),
      timestampSeconds: this.now() / 1000,
    });
    stopUpload();
    this.beat();
    const record = (o: WindowUploadOutcome) => {
      if (o.status === "uploaded") {
        this.budget.uploadTime.observe(o.durationMs / 1000);
        metrics.uploads.inc("success");
        metrics.rolloutsUploaded.inc(o.rows);
        metrics.lastUploadedWindow.set(W);
        metrics.lastUploadedWindowRollouts.set(o.rows);
        this.progressState.lastUploadedWindow = W;
        this.progressState.upload = "uploaded";
      } else {
        metrics.uploads.inc("failure");
        metrics.rolloutsDropped.inc("upload_failed", o.rows || rows);
        this.progressState.upload = "failed";
        logger.error("window file was not uploaded", { window: W, rows: o.rows || rows, error: o.error });
      }
    };
    if (outcome.retrying) {
      this.progressState.upload = "retrying";
      void outcome.final.then(record);
    } else {
      record(outcome);
    }
    return outcome;
  }

  private summaryLine(r: WindowReport): void {
    const s = r.run;
    const drops = Object.entries(s.dropped)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const secs = (s.sealedAtMs - s.startedAtMs) / 1000;
    this.deps.logger.notice(
      `window ${r.windowStart}: ${s.groupsPackaged} groups (${s.rolloutsPackaged} rollouts) packaged, ${s.groupsDropped} dropped${drops ? ` [${drops}]` : ""}, upload ${r.upload ? r.upload.status : "none (empty)"}`,
      {
        window: r.windowStart,
        checkpoint: r.checkpointWindow,
        groups: s.groupsPackaged,
        rollouts: s.rolloutsPackaged,
        dropped: s.groupsDropped,
        batches: s.batches,
        stop: s.stopReason,
        // Groups still being proved when the file was sealed; they are dropped as window_closed.
        lateGroups: this.run?.pending ?? 0,
        miningSeconds: Math.round(secs * 10) / 10,
        rolloutsPerSecond: secs > 0 ? Math.round((s.rolloutsPackaged / secs) * 100) / 100 : 0,
        uploadMs: r.upload ? Math.round(r.upload.durationMs) : null,
        fileBytes: r.upload?.size ?? null,
        neededBlocks: this.budget.neededBlocks(),
        blockSeconds: Math.round(this.budget.blockSeconds * 1000) / 1000,
        batchSeconds: Math.round(this.budget.batchSeconds * 1000) / 1000,
      },
    );
  }

  /**
   * The window's checkpoint, loaded into the generation server and every proof worker. Any failure
   * skips the window: mining on the previous checkpoint would produce rows whose checkpoint_window
   * validators reject, and generation must never use other weights than the proofs.
   */
  private async ensureCheckpoint(W: number): Promise<LoadedCheckpoint> {
    const { checkpoints, metrics, logger } = this.deps;
    let C: number | null;
    try {
      C = await checkpoints.latestReadyCheckpoint(W);
    } catch (err) {
      throw new WindowSkippedError(
        "checkpoint_unavailable",
        `checkpoint listing failed: ${(err as Error).message}`,
        {},
        err,
      );
    }
    if (C === null) throw new WindowSkippedError("no_checkpoint", `no READY checkpoint before window ${W}`);
    const cur = this.current;
    if (
      cur &&
      cur.window === C &&
      this.backends &&
      this.backends.generation.loadedCheckpoint === resolve(cur.dir) &&
      this.backends.proofs.stats().checkpointWindow === C
    ) {
      return cur;
    }

    const t0 = this.now();
    let dir: string;
    try {
      const got = await checkpoints.getCheckpoint(C);
      dir = got.dir;
      metrics.checkpointLoads.inc(got.method);
      metrics.checkpointLoadDuration.observe(got.method, (this.now() - t0) / 1000);
    } catch (err) {
      throw new WindowSkippedError(
        "checkpoint_unavailable",
        `checkpoint ${C} could not be made ready: ${(err as Error).message}`,
        { checkpointWindow: C },
        err,
      );
    }

    if (!this.backends) {
      try {
        this.backends = await this.deps.startBackends({ dir, window: C });
      } catch (err) {
        throw new PipelineInitError(
          `the generation server or the proof workers failed to start on checkpoint ${C}: ${(err as Error).message}`,
          { checkpointWindow: C, dir },
          { cause: err },
        );
      }
      logger.notice("pipeline started", { checkpoint: C, dir });
    } else {
      const { generation, proofs } = this.backends;
      const [gen, prf] = await Promise.allSettled([
        generation.loadedCheckpoint === resolve(dir) ? Promise.resolve(null) : generation.syncWeights(dir),
        proofs.reload({ modelDir: dir, checkpointWindow: C }),
      ]);
      if (gen.status === "rejected") {
        metrics.weightSyncs.inc("failed");
        throw new WindowSkippedError(
          "weights_not_synced",
          `generation server could not load checkpoint ${C}: ${(gen.reason as Error).message}`,
          { checkpointWindow: C },
          gen.reason,
        );
      }
      if (gen.value) metrics.weightSyncs.inc(gen.value.method === "in-place" ? "synced" : "restarted");
      if (prf.status === "rejected" || prf.value.every((o) => o.outcome === "unavailable")) {
        throw new WindowSkippedError(
          "weights_not_synced",
          `proof workers could not load checkpoint ${C}: ${prf.status === "rejected" ? (prf.reason as Error).message : "every worker is unavailable"}`,
          { checkpointWindow: C },
        );
      }
      logger.notice("switched checkpoint", {
        from: cur?.window ?? null,
        to: C,
        generation: gen.value ? gen.value.method : "already loaded",
        proofs: prf.value.map((o) => `${o.gpu}:${o.outcome}`).join(","),
        ms: this.now() - t0,
      });
    }
    const tokenizer = await this.deps.loadTokenizer(dir);
    const loaded: LoadedCheckpoint = { window: C, dir, tokenizer, modelName: await modelNameOf(dir) };
    this.current = loaded;
    this.progressState.checkpointWindow = C;
    return loaded;
  }
}

/** `model_name` from the local checkpoint's metadata.json, as the reference binds it (§3.10). */
export async function modelNameOf(dir: string): Promise<string> {
  try {
    const meta = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8")) as { model_name?: unknown };
    if (typeof meta.model_name === "string" && meta.model_name !== "") return meta.model_name;
  } catch {
    // no local metadata: the reference's default name
  }
  return "no_name";
}
