/**
 * What the miner's /healthz reports. Unhealthy (503) when restarting the miner is the right move:
 * no proof worker can prove, the generation server is gone or every request to it fails, the
 * window loop stopped making progress, or the last uploads all failed. Normal slow phases (start-up,
 * checkpoint download, a checkpoint switch, waiting for the next window) stay healthy.
 */
import { type Completion, StaleWeightsError } from "@grail/generation";
import type { HealthReport } from "@grail/metrics";
import type { GenerationPort, MiningEngine, MiningProgress, PoolHealth } from "@grail/pipeline";
import { WINDOW_LENGTH } from "@grail/protocol";

/** The generation side as /healthz sees it. */
export interface GenerationHealth {
  /** The server process's supervisor state (ready, starting, restarting, failed, …). */
  state: string;
  /** When the last generate call succeeded or failed (ms since the epoch); null before any. */
  lastSuccessMs: number | null;
  lastFailureMs: number | null;
  lastError: string | null;
}

export interface UploadResult {
  window: number;
  status: "uploaded" | "failed";
  error?: string;
}

export interface HealthSettings {
  /** The window loop counts as stalled after this many windows without progress. Default 1.5. */
  stallWindows: number;
  /** A failed generate call keeps the miner unhealthy this long unless a call succeeds. Default 120 s. */
  generationFailureMs: number;
  /** Unhealthy when this many window uploads in a row failed. Default 3. */
  failedUploads: number;
}

export const DEFAULT_HEALTH_SETTINGS: HealthSettings = {
  stallWindows: 1.5,
  generationFailureMs: 120_000,
  failedUploads: 3,
};

/** Everything the verdict depends on, read at the moment of the probe. */
export interface HealthInput {
  nowMs: number;
  phase: MiningProgress["phase"];
  /** null until the first checkpoint started the workers. */
  pool: PoolHealth | null;
  generation: GenerationHealth | null;
  /** Since the window loop last reported progress (the watchdog's heartbeat). */
  silentForMs: number;
  /** One window at the measured block time. */
  windowMs: number;
  windowsMined: number;
  lastWindow: number | null;
  /** Final upload results, oldest first. */
  uploads: readonly UploadResult[];
}

/** Phases in which the loop beats at least once a window; start-up and checkpoint loads may take longer. */
const WATCHED_PHASES: ReadonlySet<MiningProgress["phase"]> = new Set(["waiting", "mining", "uploading"]);

const seconds = (ms: number) => Math.round(ms / 100) / 10;

export function evaluateHealth(
  input: HealthInput,
  settings: HealthSettings = DEFAULT_HEALTH_SETTINGS,
): HealthReport {
  const problems: string[] = [];
  const warnings: string[] = [];
  const { pool, generation } = input;

  if (pool && !pool.closing && pool.alive === 0) {
    problems.push(
      `no proof worker is alive: ${pool.recovering} of ${pool.workers} restarting, ${pool.lost} given up`,
    );
  }
  if (pool?.fellBackFrom) {
    warnings.push(
      `proof workers run ${pool.topology} instead of ${pool.fellBackFrom}: ${pool.fallbackReason ?? "start failed"}`,
    );
  }

  if (generation) {
    if (generation.state === "failed") {
      problems.push("the generation server crashed repeatedly and its supervisor gave up");
    }
    const { lastFailureMs, lastSuccessMs } = generation;
    if (
      lastFailureMs !== null &&
      (lastSuccessMs === null || lastFailureMs > lastSuccessMs) &&
      input.nowMs - lastFailureMs <= settings.generationFailureMs
    ) {
      problems.push(
        `the last generation request failed ${seconds(input.nowMs - lastFailureMs)} s ago: ${generation.lastError ?? "unknown error"}`,
      );
    }
  }

  const stallMs = settings.stallWindows * input.windowMs;
  if (WATCHED_PHASES.has(input.phase) && input.silentForMs > stallMs) {
    problems.push(
      `the window loop made no progress for ${seconds(input.silentForMs)} s (limit ${seconds(stallMs)} s, ${settings.stallWindows} windows)`,
    );
  }

  const recent = input.uploads.slice(-settings.failedUploads);
  if (recent.length === settings.failedUploads && recent.every((u) => u.status === "failed")) {
    problems.push(
      `the last ${recent.length} window uploads failed (windows ${recent.map((u) => u.window).join(", ")}): ${recent.at(-1)?.error ?? "unknown error"}`,
    );
  }

  const lastUpload = input.uploads.at(-1) ?? null;
  return {
    healthy: problems.length === 0,
    detail: {
      ...(problems.length > 0 ? { problems } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
      phase: input.phase,
      proofWorkers: pool
        ? {
            alive: pool.alive,
            total: pool.workers,
            restarting: pool.recovering,
            lost: pool.lost,
            topology: pool.topology,
          }
        : null,
      generation: generation ? { state: generation.state } : null,
      windowsMined: input.windowsMined,
      lastWindowMined: input.lastWindow,
      lastUpload,
      secondsSinceProgress: seconds(input.silentForMs),
    },
  };
}

/**
 * Wraps the generation port the engine uses and records how each generate call ends. A refusal
 * for stale weights is the engine's own check, not a server failure, and is not counted.
 */
export class GenerationCalls {
  lastSuccessMs: number | null = null;
  lastFailureMs: number | null = null;
  lastError: string | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  track(port: GenerationPort): GenerationPort {
    const calls = this;
    return {
      get loadedCheckpoint() {
        return port.loadedCheckpoint;
      },
      async generate(prompts, policy, options): Promise<Completion[]> {
        try {
          const out = await port.generate(prompts, policy, options);
          calls.lastSuccessMs = calls.now();
          return out;
        } catch (err) {
          if (!(err instanceof StaleWeightsError)) {
            calls.lastFailureMs = calls.now();
            calls.lastError = (err as Error).message;
          }
          throw err;
        }
      },
      syncWeights: (dir) => port.syncWeights(dir),
    };
  }
}

export interface MinerHealthSources {
  progress: () => MiningProgress;
  pool: () => PoolHealth | null;
  /** The server's supervisor state; null before the backends started. */
  generationState: () => string | null;
  generationCalls: GenerationCalls;
  silentForMs: () => number;
  /** Seconds per block as the engine measures them. */
  blockSeconds: () => number;
  now?: () => number;
}

/** The miner's health: the sources above, the upload results seen so far, and the verdict. */
export class MinerHealth {
  private readonly uploads: UploadResult[] = [];
  private lastWindow: number | null = null;
  private readonly now: () => number;

  constructor(
    private readonly sources: MinerHealthSources,
    private readonly settings: HealthSettings = DEFAULT_HEALTH_SETTINGS,
  ) {
    this.now = sources.now ?? Date.now;
  }

  /** Follows the engine's windows: the last mined and each upload's final result. */
  watch(engine: Pick<MiningEngine, "onWindow">): () => void {
    return engine.onWindow((report) => {
      this.lastWindow = report.windowStart;
      if (!report.upload) return;
      void report.upload.final.then((o) =>
        this.recordUpload({
          window: o.windowStart,
          status: o.status,
          ...(o.error ? { error: o.error } : {}),
        }),
      );
    });
  }

  recordUpload(result: UploadResult): void {
    this.uploads.push(result);
    if (this.uploads.length > this.settings.failedUploads) this.uploads.shift();
  }

  report(): HealthReport {
    const { sources } = this;
    const state = sources.generationState();
    const calls = sources.generationCalls;
    const progress = sources.progress();
    return evaluateHealth(
      {
        nowMs: this.now(),
        phase: progress.phase,
        pool: sources.pool(),
        generation:
          state === null
            ? null
            : {
                state,
                lastSuccessMs: calls.lastSuccessMs,
                lastFailureMs: calls.lastFailureMs,
                lastError: calls.lastError,
              },
        silentForMs: sources.silentForMs(),
        windowMs: WINDOW_LENGTH * sources.blockSeconds() * 1000,
        windowsMined: progress.windowsMined,
        lastWindow: this.lastWindow,
        uploads: this.uploads,
      },
      this.settings,
    );
  }
}
