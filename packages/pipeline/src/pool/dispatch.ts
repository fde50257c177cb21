import type { Logger } from "@grail/log";
import { LAYER_INDEX } from "@grail/protocol";
import PQueue from "p-queue";
import { GroupDroppedError, PoolClosedError, StaleCheckpointError } from "./errors.js";
import type { PoolEvent } from "./events.js";
import { type GroupEntry, packGroup } from "./group-entry.js";
import type { ProofPoolOptions } from "./options.js";
import { unpackAndSign } from "./result-check.js";
import type { SlotChoice } from "./slot-choice.js";
import type { ProofContext, ProofGroup, ProvedGroup, ProvedRollout } from "./types.js";

/** What dispatch reads from its pool. */
export interface DispatchHost {
  readonly logger: Logger;
  readonly options: ProofPoolOptions;
  readonly choice: SlotChoice;
  /** Batches dispatched at once over all workers. */
  readonly concurrency: number;
  readonly maxAttempts: number;
  /** The checkpoint the workers hold now. */
  checkpointWindow(): number;
  closing(): boolean;
  emit(e: PoolEvent): void;
}

/**
 * Dispatch and retry: each accepted group waits in a priority queue (retries first) for a slot,
 * goes to its worker whole, and is re-dispatched when the worker fails it, until it is proved and
 * signed or has failed maxAttempts times. Every group settles exactly once.
 */
export class GroupDispatcher {
  private readonly queue: PQueue;
  private readonly entries = new Set<GroupEntry>();
  private idleWaiters: (() => void)[] = [];
  readonly counters = { proved: 0, retried: 0, dropped: 0 };

  constructor(private readonly host: DispatchHost) {
    this.queue = new PQueue({ concurrency: host.concurrency });
  }

  /** Groups accepted and not yet settled (queued or in flight). */
  get pending(): number {
    return this.entries.size;
  }

  /** Proves one group; resolves with every rollout proved and signed, or rejects with GroupDroppedError. */
  proveGroup(group: ProofGroup, context: ProofContext): Promise<ProvedGroup> {
    if (this.host.closing()) {
      return Promise.reject(new PoolClosedError(group.groupId, "the proof pool is shut down"));
    }
    let packed: ReturnType<typeof packGroup>;
    try {
      packed = packGroup(group);
    } catch (err) {
      return Promise.reject(err);
    }
    const ctx: Required<ProofContext> = { layerIndex: LAYER_INDEX, ...context };
    return new Promise<ProvedGroup>((resolve, reject) => {
      const entry: GroupEntry = { group, ctx, ...packed, attempts: 0, resolve, reject };
      this.entries.add(entry);
      this.enqueue(entry, 0);
    });
  }

  /** Resolves when every accepted group has settled. */
  onIdle(): Promise<void> {
    if (this.entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(entry: GroupEntry, priority: number): void {
    this.queue
      .add(() => this.attempt(entry), { priority })
      .catch((err: Error) => {
        this.host.logger.error("proof dispatch failed unexpectedly", {
          groupId: entry.group.groupId,
          error: err.message,
        });
        this.drop(entry, new GroupDroppedError(entry.group.groupId, `internal error: ${err.message}`));
      });
  }

  private settle(entry: GroupEntry, result: ProvedGroup | Error): void {
    if (!this.entries.delete(entry)) return;
    if (result instanceof Error) entry.reject(result);
    else entry.resolve(result);
    if (this.entries.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async attempt(entry: GroupEntry): Promise<void> {
    if (!this.entries.has(entry)) return;
    const slot = await this.host.choice.acquireSlot();
    if (!this.entries.has(entry)) {
      if (slot) this.host.choice.release(slot);
      return;
    }
    if (!slot) {
      const reason = this.host.closing() ? "the proof pool is shut down" : "no proof worker is available";
      const Err = this.host.closing() ? PoolClosedError : GroupDroppedError;
      this.drop(entry, new Err(entry.group.groupId, reason, { attempts: entry.attempts }));
      return;
    }
    if (entry.ctx.checkpointWindow !== this.host.checkpointWindow()) {
      this.host.choice.release(slot);
      this.drop(
        entry,
        new StaleCheckpointError(
          entry.group.groupId,
          `it was generated with checkpoint ${entry.ctx.checkpointWindow}, the workers now hold ${this.host.checkpointWindow()}`,
          { groupCheckpoint: entry.ctx.checkpointWindow, poolCheckpoint: this.host.checkpointWindow() },
        ),
      );
      return;
    }
    entry.attempts++;
    this.host.choice.release(slot);
    // slot.prove registers the batch as in flight synchronously, before any other dispatch runs.
    const pending = slot.prove({
      checkpointWindow: entry.ctx.checkpointWindow,
      randomnessHex: entry.ctx.randomnessHex,
      modelName: entry.ctx.modelName,
      layerIndex: entry.ctx.layerIndex,
      groupSizes: [entry.lengths.length],
      tokens: entry.tokens,
      lengths: entry.lengths,
      promptLens: entry.promptLens,
    });
    this.host.emit({
      type: "dispatched",
      groupId: entry.group.groupId,
      gpu: slot.gpu,
      pid: slot.pid,
      attempt: entry.attempts,
    });
    let outcome: Awaited<typeof pending>;
    try {
      outcome = await pending;
    } catch (err) {
      this.retryOrDrop(entry, (err as Error).message);
      return;
    }
    if ("error" in outcome) {
      this.retryOrDrop(entry, `${outcome.error.code}: ${outcome.error.message}`);
      return;
    }
    const reply = outcome.reply;
    if (reply.checkpointWindow !== entry.ctx.checkpointWindow) {
      this.retryOrDrop(
        entry,
        `result tagged with checkpoint ${reply.checkpointWindow}, expected ${entry.ctx.checkpointWindow}; discarded`,
      );
      return;
    }
    let rollouts: ProvedRollout[];
    try {
      rollouts = unpackAndSign(entry, reply, this.host.options);
    } catch (err) {
      this.retryOrDrop(entry, (err as Error).message);
      return;
    }
    this.counters.proved++;
    this.host.emit({
      type: "proved",
      groupId: entry.group.groupId,
      gpu: slot.gpu,
      pid: slot.pid ?? -1,
      attempt: entry.attempts,
      proveMs: reply.proveMs,
    });
    this.settle(entry, {
      groupId: entry.group.groupId,
      checkpointWindow: reply.checkpointWindow,
      rollouts,
      gpu: slot.gpu,
      pid: slot.pid ?? -1,
      attempts: entry.attempts,
      proveMs: reply.proveMs,
    });
  }

  private retryOrDrop(entry: GroupEntry, reason: string): void {
    if (!this.entries.has(entry)) return;
    if (this.host.closing()) {
      this.drop(entry, new PoolClosedError(entry.group.groupId, "the proof pool is shut down"));
      return;
    }
    if (entry.attempts >= this.host.maxAttempts) {
      this.drop(
        entry,
        new GroupDroppedError(entry.group.groupId, `failed ${entry.attempts} times; last: ${reason}`, {
          attempts: entry.attempts,
        }),
      );
      return;
    }
    this.counters.retried++;
    this.host.logger.info("re-dispatching group", {
      groupId: entry.group.groupId,
      attempt: entry.attempts,
      reason,
    });
    this.host.emit({ type: "retry", groupId: entry.group.groupId, reason, attempt: entry.attempts });
    this.enqueue(entry, 1);
  }

  private drop(entry: GroupEntry, err: GroupDroppedError): void {
    if (!this.entries.has(entry)) return;
    this.counters.dropped++;
    if (!(err instanceof PoolClosedError)) {
      this.host.logger.warn("group dropped", {
        groupId: entry.group.groupId,
        reason: err.reason,
        attempts: entry.attempts,
      });
    }
    this.host.emit({
      type: "dropped",
      groupId: entry.group.groupId,
      reason: err.reason,
      attempts: entry.attempts,
    });
    this.settle(entry, err);
  }

  /** Stops dispatching: queued attempts that have not started never run. */
  clearQueue(): void {
    this.queue.clear();
  }

  /** Drops every group not yet settled with PoolClosedError. */
  dropAll(): void {
    for (const entry of [...this.entries]) {
      this.drop(entry, new PoolClosedError(entry.group.groupId, "the proof pool is shut down"));
    }
  }
}
