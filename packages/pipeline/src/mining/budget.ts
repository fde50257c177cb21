import { BLOCK_TIME_SECONDS, DEADLINE_SLACK_SECONDS, WINDOW_LENGTH } from "@grail/protocol";

/** Weight of the newest sample in every EMA (spec/miner-pipeline.md §3.6). */
export const EMA_ALPHA = 0.2;

/** An exponential moving average that starts unset; the first sample initialises it. */
export class Ema {
  private current: number | null;

  constructor(
    initial: number | null = null,
    private readonly alpha = EMA_ALPHA,
  ) {
    this.current = initial;
  }

  get value(): number | null {
    return this.current;
  }

  observe(x: number): void {
    if (!Number.isFinite(x) || x < 0) return;
    this.current = this.current === null ? x : this.alpha * x + (1 - this.alpha) * this.current;
  }
}

export interface BudgetSettings {
  /** GRAIL_MINER_SAFETY_BLOCKS: blocks kept free at the end of a window. */
  safetyBlocks: number;
  /**
   * Seconds before the next window's first block by which the file must be in the bucket
   * (validators accept LastModified ≤ timestamp(W+30) − 4 s).
   */
  deadlineSlackSeconds?: number;
}

/** One chain read: a block number and when (ms, this process's clock) it was seen. */
export interface BlockObservation {
  block: number;
  atMs: number;
}

/**
 * The time budget of a window (spec §3.6–3.7, batched): EMAs of the block time, of one batch
 * (dispatch → every group of it packaged) and of one upload (serialise + upload) decide
 *
 * - whether another batch may start: `blocksRemaining > neededBlocks`, with
 *   `neededBlocks = min(29, max(1, ceil((G + U + max(S·B, slack + B)) / B)))` (G: batch, U: upload,
 *   S: safety blocks; the reference's `S·B` unless short blocks make the deadline slack larger);
 * - the window's deadline: the estimated time of block W+30 minus the validator's slack;
 * - the seal time: the last moment a finished group is still added to the window file, leaving one
 *   estimated upload plus one block before the deadline. Groups finished later are not uploaded.
 *
 * State persists across windows, as the reference's timers do.
 */
export class TimeBudget {
  readonly blockTime = new Ema(BLOCK_TIME_SECONDS);
  readonly batchTime = new Ema();
  readonly uploadTime = new Ema();
  private last: BlockObservation | null = null;
  private readonly safetyBlocks: number;
  private readonly slackMs: number;

  constructor(settings: BudgetSettings) {
    this.safetyBlocks = settings.safetyBlocks;
    this.slackMs = (settings.deadlineSlackSeconds ?? -DEADLINE_SLACK_SECONDS) * 1000;
  }

  /** Feeds a chain read into the block-time EMA (only when blocks and time advanced). */
  observeBlock(block: number, atMs: number): void {
    const prev = this.last;
    if (prev && block > prev.block && atMs > prev.atMs) {
      this.blockTime.observe((atMs - prev.atMs) / 1000 / (block - prev.block));
    }
    if (!prev || block >= prev.block) this.last = { block, atMs };
  }

  get lastBlock(): BlockObservation | null {
    return this.last;
  }

  /** Block time in seconds (EMA, 12 s until measured). */
  get blockSeconds(): number {
    return this.blockTime.value ?? BLOCK_TIME_SECONDS;
  }

  /** Batch time in seconds; cold: 6 blocks, as the reference's per-group estimate. */
  get batchSeconds(): number {
    return this.batchTime.value ?? 6 * this.blockSeconds;
  }

  /** Upload time in seconds; cold: one block. */
  get uploadSeconds(): number {
    return this.uploadTime.value ?? this.blockSeconds;
  }

  /**
   * Blocks a batch of `fraction` of the configured size needs before the window ends: its estimated
   * time (G · fraction, the batch EMA scaled linearly), one upload and the safety blocks.
   */
  neededBlocks(fraction = 1): number {
    const b = this.blockSeconds;
    const g = this.batchSeconds * fraction;
    const u = this.uploadSeconds;
    // The safety blocks must also cover what the seal keeps back: the validator's slack before the
    // window's end plus one block. With 12 s blocks the 3 safety blocks do; with the short blocks
    // of a local network they do not, and a batch started late would miss the deadline.
    const reserve = Math.max(this.safetyBlocks * b, this.slackMs / 1000 + b);
    const raw = Math.ceil((g + u + reserve) / Math.max(0.001, b));
    return Math.min(WINDOW_LENGTH - 1, Math.max(1, raw));
  }

  /** Whether a batch (of `fraction` of the configured size) may start at `block`. */
  mayStartBatch(windowStart: number, block: number, fraction = 1): boolean {
    const remaining = windowStart + WINDOW_LENGTH - block;
    return remaining > this.neededBlocks(fraction);
  }

  /**
   * The largest batch (groupsPerBatch, then halves of it, down to one group) that still fits the
   * window at `block`; 0 when not even one group does. A full batch that no longer fits would
   * otherwise leave the window's end idle, which with large batches is a third of the window.
   */
  groupsThatFit(windowStart: number, block: number, groupsPerBatch: number): number {
    for (let k = groupsPerBatch; k >= 1; k = k === 1 ? 0 : Math.max(1, Math.floor(k / 2))) {
      if (this.mayStartBatch(windowStart, block, k / groupsPerBatch)) return k;
    }
    return 0;
  }

  /** Feeds a finished batch of `groups` of `groupsPerBatch` groups into the batch EMA, scaled to a full batch. */
  observeBatch(seconds: number, groups: number, groupsPerBatch: number): void {
    this.batchTime.observe(seconds * (groupsPerBatch / Math.max(1, groups)));
  }

  /** Estimated wall time (ms) of the first block of the next window, from the last chain read. */
  windowEndMs(windowStart: number, fallbackNowMs: number): number {
    const last = this.last ?? { block: windowStart, atMs: fallbackNowMs };
    return last.atMs + (windowStart + WINDOW_LENGTH - last.block) * this.blockSeconds * 1000;
  }

  /** Upload deadline (whole ms): the estimated end of the window minus the validator's slack. */
  deadlineMs(windowStart: number, fallbackNowMs: number): number {
    return Math.floor(this.windowEndMs(windowStart, fallbackNowMs) - this.slackMs);
  }

  /** Last moment (ms) a finished group still goes into the window file. */
  sealMs(windowStart: number, fallbackNowMs: number): number {
    return this.deadlineMs(windowStart, fallbackNowMs) - (this.uploadSeconds + this.blockSeconds) * 1000;
  }
}
