/**
 * Process watchdog (spec/miner-pipeline.md §3.1): when no heartbeat arrived for `timeoutMs` the
 * miner is presumed stuck; `onStall` starts a cooperative shutdown and the caller exits 1 after a
 * grace period, so a supervisor restarts it.
 */
export class Watchdog {
  private last: number;
  private timer: NodeJS.Timeout | null = null;
  private fired = false;

  constructor(
    private readonly options: {
      timeoutMs: number;
      checkIntervalMs: number;
      onStall: (silentForMs: number) => void;
      now?: () => number;
    },
  ) {
    this.last = this.now();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  beat(): void {
    this.last = this.now();
  }

  /** Milliseconds since the last heartbeat. */
  get silentForMs(): number {
    return this.now() - this.last;
  }

  start(): this {
    this.beat();
    this.timer ??= setInterval(() => this.check(), this.options.checkIntervalMs);
    this.timer.unref();
    return this;
  }

  /** Runs one check (the interval calls it; tests call it directly). */
  check(): void {
    const silent = this.silentForMs;
    if (!this.fired && silent >= this.options.timeoutMs) {
      this.fired = true;
      this.options.onStall(silent);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
