import { DEADLINE_SLACK_SECONDS, WINDOW_FILE_PREFIX, WINDOW_LENGTH } from "./constants.js";
import { ProtocolViolationError } from "./errors.js";

function checkBlock(block: number): void {
  if (!Number.isSafeInteger(block) || block < 0) {
    throw new ProtocolViolationError(`block number must be a non-negative integer, got ${block}`, { block });
  }
}

/** First block of the window containing `block` (spec §5.1). */
export function windowStart(block: number): number {
  checkBlock(block);
  return Math.floor(block / WINDOW_LENGTH) * WINDOW_LENGTH;
}

/** First block of the window after the one containing `block`. */
export function nextWindowStart(block: number): number {
  return windowStart(block) + WINDOW_LENGTH;
}

/**
 * Upload deadline of a window in Unix seconds, from the on-chain timestamp (ms) of the next
 * window's first block (spec §5.1).
 */
export function windowDeadlineSeconds(nextWindowTimestampMs: number): number {
  return nextWindowTimestampMs / 1000 + DEADLINE_SLACK_SECONDS;
}

/** The window a validator processes while the chain is at `currentBlock`. */
export function validatorTargetWindow(currentBlock: number): number {
  return windowStart(currentBlock) - WINDOW_LENGTH;
}

/** Object key of a miner's window file in its bucket (spec §6.5). */
export function windowFileKey(hotkeySs58: string, window: number): string {
  checkBlock(window);
  return `${WINDOW_FILE_PREFIX}${hotkeySs58}-window-${window}.parquet`;
}
