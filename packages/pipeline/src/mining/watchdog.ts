/** How the window loop finished with a window, as the watchdog counts it. */
export type WindowOutcome =
  /** Its file was uploaded. */
  | "uploaded"
  /** Nothing of it was uploaded: empty, its upload failed, skipped, or it kept failing. */
  | "no_upload"
  /** Nothing could be mined and a restart would not change that: no checkpoint yet, bad metadata, stopping. */
  | "excused";

/** What the window loop tells its watchdog. */
export interface ProgressReporter {
  /** Work got done inside a window: a checkpoint loaded, a batch generated, an upload attempted. */
  beat(): void;
  /** The loop is done with a window (for a retried upload: once its last retry settled). */
  windowEnded(window: number, outcome: WindowOutcome): void;
}

export interface Stall {
  /** `silent`: nothing got done for timeoutMs; `no_uploads`: windows in a row ended without an upload. */
  reason: "silent" | "no_uploads";
  message: string;
  silentForMs: number;
  windowsWithoutUpload: number;
}

export interface WatchdogOptions {
  /** Nothing got done (a batch, an upload, the end of a window) for this long: the loop is stuck. */
  timeoutMs: number;
  checkIntervalMs: number;
  /** Windows in a row that end without an upload before the miner gives up; 0 never. */
  maxWindowsWithoutUpload?: number;
  onStall: (stall: Stall) => void;
  now?: () => number;
}

/** The reference's 1800 s silence limit, checked every 600 s; 5 windows (30 min at 12 s blocks) without an upload. */
export const WATCHDOG_DEFAULTS = {
  timeoutMs: 1_800_000,
  checkIntervalMs: 600_000,
  maxWindowsWithoutUpload: 5,
};

/**
 * Process watchdog (spec/miner-pipeline.md §3.1), measuring progress rather than loop passes: it
 * fires once when nothing got done for `timeoutMs` (a stuck loop) or when `maxWindowsWithoutUpload`
 * windows in a row ended without an upload (a loop that runs but produces nothing, e.g. with its
 * proof GPUs lost). `onStall` starts a cooperative shutdown and the miner exits 1, so a supervisor
 * restarts it. Windows with nothing to mine yet (no checkpoint) are not counted.
 */
export class Watchdog implements ProgressReporter {
  private last: number;
  private timer: NodeJS.Timeout | null = null;
  private fired = false;
  private withoutUpload = 0;
  private lastUploaded: number | null = null;

  constructor(private readonly options: WatchdogOptions) {
    this.last = this.now();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  beat(): void {
    this.last = this.now();
  }

  windowEnded(window: number, outcome: WindowOutcome): void {
    this.beat();
    if (outcome === "excused") return;
    if (outcome === "uploaded") {
      this.withoutUpload = 0;
      this.lastUploaded = Math.max(window, this.lastUploaded ?? window);
      return;
    }
    this.withoutUpload++;
    const max = this.options.maxWindowsWithoutUpload ?? 0;
    if (max > 0 && this.withoutUpload >= max) {
      const last = this.lastUploaded === null ? "none since the start" : `window ${this.lastUploaded}`;
      this.fire(
        "no_uploads",
        `${this.withoutUpload} windows in a row ended without an upload (last uploaded: ${last})`,
      );
    }
  }

  /** Milliseconds since something got done. */
  get silentForMs(): number {
    return this.now() - this.last;
  }

  /** Windows ended without an upload since the last upload (excused ones not counted). */
  get windowsWithoutUpload(): number {
    return this.withoutUpload;
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
    if (silent >= this.options.timeoutMs) {
      this.fire(
        "silent",
        `no progress (a batch, an upload or the end of a window) for ${Math.round(silent / 1000)} s`,
      );
    }
  }

  private fire(reason: Stall["reason"], message: string): void {
    if (this.fired) return;
    this.fired = true;
    this.options.onStall({
      reason,
      message,
      silentForMs: this.silentForMs,
      windowsWithoutUpload: this.withoutUpload,
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
