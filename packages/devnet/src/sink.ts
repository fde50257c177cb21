import type { WindowSink } from "@grail/pipeline";

/**
 * Rounds the upload deadline down to a whole millisecond before it reaches the uploader: the
 * time budget's estimate is fractional, and the storage retry loop hands the remaining time to
 * `AbortSignal.timeout`, which throws on non-integers (the upload then fails without an attempt).
 */
export function withIntegerDeadlines(sink: WindowSink): WindowSink {
  return {
    add: (windowStart, rows) => sink.add(windowStart, rows),
    discard: (windowStart) => sink.discard(windowStart),
    publish: (windowStart, input) =>
      sink.publish(windowStart, { ...input, deadlineMs: Math.floor(input.deadlineMs) }),
    recoverSpool: () => sink.recoverSpool(),
    idle: () => sink.idle(),
    close: () => sink.close(),
  };
}

/**
 * Starts the miner's block-time estimate at the local chain's block time. The estimate is an EMA
 * that begins at the real chain's 12 s and moves 20 % per chain read; with seconds-long local
 * blocks it would stay far too slow for the first windows, so deadlines would be estimated late.
 */
export function seedBlockTime(
  budget: { blockTime: { observe(x: number): void } },
  blockTimeMs: number,
): void {
  for (let i = 0; i < 60; i++) budget.blockTime.observe(blockTimeMs / 1000);
}
