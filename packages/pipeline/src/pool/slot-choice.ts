import type { WorkerSlot } from "./slot.js";

/** What slot choice reads from its pool. */
export interface SlotChoiceHost {
  /** The pool's current slots (replaced when the pool falls back to another topology). */
  slots(): readonly WorkerSlot[];
  /** A checkpoint switch is in progress: nothing new is dispatched. */
  reloading(): boolean;
  closing(): boolean;
  readonly maxInFlight: number;
}

/**
 * Which worker takes the next batch: the ready slot with the fewest batches in flight (reserved
 * ones included), at most maxInFlight each. Callers that find none wait until a slot changes; they
 * get null once no worker can come back. Also tells the pool when nothing is in flight any more.
 */
export class SlotChoice {
  private readonly reserved = new Map<WorkerSlot, number>();
  private slotWaiters: ((s: WorkerSlot | null) => void)[] = [];
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly host: SlotChoiceHost) {}

  private pickSlot(): WorkerSlot | null {
    if (this.host.reloading() || this.host.closing()) return null;
    let best: WorkerSlot | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const s of this.host.slots()) {
      if (s.state !== "ready") continue;
      const jobs = s.inFlightJobs + (this.reserved.get(s) ?? 0);
      if (jobs >= this.host.maxInFlight) continue;
      // Fewest batches first (each is one group of similar size); in-flight tokens break ties.
      const load = jobs * 1e12 + s.inFlightTokens;
      if (load < bestLoad) {
        best = s;
        bestLoad = load;
      }
    }
    if (best) this.reserved.set(best, (this.reserved.get(best) ?? 0) + 1);
    return best;
  }

  release(slot: WorkerSlot): void {
    const n = (this.reserved.get(slot) ?? 0) - 1;
    if (n > 0) this.reserved.set(slot, n);
    else this.reserved.delete(slot);
    this.checkDrained();
  }

  checkDrained(): void {
    if (this.reserved.size > 0 || this.host.slots().some((s) => s.inFlightJobs > 0)) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private noWorkerCanComeBack(): boolean {
    return this.host.slots().every((s) => s.state === "disabled" || s.state === "closed");
  }

  acquireSlot(): Promise<WorkerSlot | null> {
    const s = this.pickSlot();
    if (s) return Promise.resolve(s);
    if (this.host.closing() || this.noWorkerCanComeBack()) return Promise.resolve(null);
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  wakeWaiters(): void {
    while (this.slotWaiters.length > 0) {
      const s = this.pickSlot();
      if (!s) break;
      this.slotWaiters.shift()!(s);
    }
    if (this.host.closing() || this.noWorkerCanComeBack()) {
      const waiters = this.slotWaiters;
      this.slotWaiters = [];
      for (const w of waiters) w(null);
    }
  }

  drainInFlight(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
  }
}
