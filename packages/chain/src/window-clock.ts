import { setTimeout as sleep } from "node:timers/promises";
import { BLOCK_TIME_SECONDS, WINDOW_LENGTH, windowDeadlineSeconds, windowStart } from "@grail/protocol";
import type { SubtensorClient } from "./client.js";

export interface WindowClockOptions {
  /** Fallback poll of the best head while waiting; new-head notifications usually come first. */
  readonly pollIntervalMs?: number;
}

export interface WindowPosition {
  /** Best head number. */
  readonly block: number;
  /** First block of the window that contains `block`. */
  readonly windowStart: number;
}

export interface WindowDeadline {
  /** Unix seconds by which the window's file must be uploaded (spec/protocol.md §5.1). */
  readonly deadlineSeconds: number;
  /** Unix milliseconds of block `windowStart + WINDOW_LENGTH`, measured or estimated. */
  readonly nextWindowTimestampMs: number;
  /** True while the next window's first block does not exist yet and its time is extrapolated. */
  readonly estimated: boolean;
}

/**
 * Windows of WINDOW_LENGTH blocks on the best head: where the chain is, waiting for
 * a block or the next window, and the upload deadline from block timestamps.
 */
export class WindowClock {
  readonly #client: SubtensorClient;
  readonly #pollIntervalMs: number;

  constructor(client: SubtensorClient, options: WindowClockOptions = {}) {
    this.#client = client;
    this.#pollIntervalMs = options.pollIntervalMs ?? 2_000;
  }

  async position(): Promise<WindowPosition> {
    const block = await this.#client.currentBlock();
    return { block, windowStart: windowStart(block) };
  }

  /** Resolves with the best head number once it is at least `target`. */
  async waitForBlock(target: number, signal?: AbortSignal): Promise<number> {
    let wake: (() => void) | undefined;
    const unsubscribe = await this.#client
      .subscribeNewHeads((head) => {
        if (head.number >= target) wake?.();
      })
      .catch(() => undefined);
    try {
      for (;;) {
        signal?.throwIfAborted();
        const block = await this.#client.currentBlock();
        if (block >= target) return block;
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        const controller = new AbortController();
        const onAbort = () => controller.abort(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        await Promise.race([
          woken,
          sleep(this.#pollIntervalMs, undefined, { signal: controller.signal }).catch(() => {}),
        ]);
        controller.abort();
        signal?.removeEventListener("abort", onAbort);
        wake = undefined;
      }
    } finally {
      unsubscribe?.();
    }
  }

  /**
   * Waits until the chain is in a window later than `afterWindowStart` and returns
   * that window's start (it may skip windows when the caller was slow).
   */
  async waitForNextWindow(afterWindowStart: number, signal?: AbortSignal): Promise<WindowPosition> {
    const block = await this.waitForBlock(afterWindowStart + WINDOW_LENGTH, signal);
    return { block, windowStart: windowStart(block) };
  }

  /**
   * Upload deadline of window `start`: Timestamp.Now of block `start + WINDOW_LENGTH`
   * minus the slack, measured once that block exists, extrapolated from the best
   * head's timestamp at BLOCK_TIME_SECONDS per block before that.
   */
  async deadline(start: number): Promise<WindowDeadline> {
    const nextStart = start + WINDOW_LENGTH;
    const head = await this.#client.head();
    if (head.number >= nextStart) {
      const hash = await this.#client.blockHash(nextStart);
      const ts = await this.#client.blockTimestampMs(hash);
      return { deadlineSeconds: windowDeadlineSeconds(ts), nextWindowTimestampMs: ts, estimated: false };
    }
    const headTs = await this.#client.blockTimestampMs(head.hash);
    const ts = headTs + (nextStart - head.number) * BLOCK_TIME_SECONDS * 1000;
    return { deadlineSeconds: windowDeadlineSeconds(ts), nextWindowTimestampMs: ts, estimated: true };
  }
}
