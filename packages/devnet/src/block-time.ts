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
