import type { EngineKind } from "@grail/ipc";
import { createLogger, type Logger } from "@grail/log";
import { GroupDispatcher } from "./dispatch.js";
import { PoolStartError, ProofPoolError } from "./errors.js";
import type { PoolEvent, PoolHealth } from "./events.js";
import { DEFAULTS, type ProofPoolOptions } from "./options.js";
import { type SlotHost, WorkerSlot } from "./slot.js";
import { SlotChoice } from "./slot-choice.js";
import type { SubprocessSpec } from "./subprocess.js";
import type { WorkerTransport } from "./transport.js";
import type {
  PoolModel,
  PoolStats,
  ProofContext,
  ProofGroup,
  ProvedGroup,
  SlotState,
  Topology,
} from "./types.js";
import { engineFor, spawnSpec, startTransport } from "./worker-start.js";

export type { PoolEvent, PoolHealth } from "./events.js";
export type { ProofPoolOptions } from "./options.js";
export type { PoolStats, PoolWorkerStats } from "./types.js";

/**
 * The proof worker pool: one worker per proof GPU, as child processes pinned with
 * CUDA_VISIBLE_DEVICES or as worker threads in this process. Whole groups go to the least-loaded
 * worker (in-flight tokens) with at most maxInFlightPerWorker batches each; the coordinator's
 * hotkey signs every returned binding. A group resolves complete or rejects with
 * GroupDroppedError: a batch whose worker failed is re-dispatched, and one that failed
 * maxAttempts times is dropped with the reason.
 *
 * This class holds start-up and fallback, reload and shutdown; dispatch and retry are in
 * dispatch.ts, slot choice in slot-choice.ts, the result check and signing in result-check.ts.
 */
export class ProofPool {
  private readonly options: ProofPoolOptions;
  private readonly logger: Logger;
  private readonly maxInFlight: number;
  private topologyNow: Topology;
  private modelNow: PoolModel;
  private slots: WorkerSlot[] = [];
  private readonly choice: SlotChoice;
  private readonly dispatch: GroupDispatcher;
  private listeners = new Set<(e: PoolEvent) => void>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reloading: Promise<unknown> | null = null;
  private closing = false;
  private closed: Promise<void> | null = null;
  private fallback: { from: Topology; reason: string } | null = null;
  private readonly host: SlotHost;
  private readonly exitHook = () => {
    // Last resort on process.exit(): children also exit when their request pipe closes.
    for (const s of this.slots) s.transport?.kill("coordinator exiting");
  };

  private constructor(options: ProofPoolOptions) {
    if (options.gpus.length === 0) throw new PoolStartError("no proof GPUs were given");
    if (new Set(options.gpus).size !== options.gpus.length) {
      throw new PoolStartError(`proof GPUs repeat: ${options.gpus.join(",")}`);
    }
    this.options = options;
    this.logger = (options.logger ?? createLogger()).child({ component: "proof-pool" });
    this.maxInFlight = options.maxInFlightPerWorker ?? DEFAULTS.maxInFlightPerWorker;
    this.topologyNow = options.topology;
    this.modelNow = { ...options.model };
    this.host = {
      logger: this.logger,
      currentModel: () => this.modelNow,
      startTransport: (slot) => this.startTransport(slot),
      loadOptions: (slot) => ({
        ...(options.backend ? { backend: options.backend } : {}),
        // A child sees only its own GPU (CUDA_VISIBLE_DEVICES); a thread sees the coordinator's.
        device: this.topologyNow === "subprocess" ? 0 : slot.gpu,
        ...(options.threadsPerWorker !== undefined ? { threads: options.threadsPerWorker } : {}),
        ...(options.engineOptions ? { options: options.engineOptions } : {}),
      }),
      timeouts: {
        startupMs: options.startupTimeoutMs ?? DEFAULTS.startupTimeoutMs,
        jobMs: options.jobTimeoutMs ?? DEFAULTS.jobTimeoutMs,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? DEFAULTS.heartbeatTimeoutMs,
        restartBackoffMs: options.restartBackoffMs ?? DEFAULTS.restartBackoffMs,
        reenableBackoffMs: options.reenableBackoffMs ?? DEFAULTS.reenableBackoffMs,
      },
      restartLimit: options.restartLimit ?? DEFAULTS.restartLimit,
      onSlotChange: (slot) => this.onSlotChange(slot),
    };
    this.choice = new SlotChoice({
      slots: () => this.slots,
      reloading: () => this.reloading !== null,
      closing: () => this.closing,
      maxInFlight: this.maxInFlight,
    });
    this.dispatch = new GroupDispatcher({
      logger: this.logger,
      options,
      choice: this.choice,
      concurrency: Math.max(1, options.gpus.length * this.maxInFlight),
      maxAttempts: options.maxAttempts ?? DEFAULTS.maxAttempts,
      checkpointWindow: () => this.modelNow.checkpointWindow,
      closing: () => this.closing,
      emit: (e) => this.emit(e),
    });
  }

  /** Starts every worker and loads the model; falls back to in-process workers if processes fail. */
  static async start(options: ProofPoolOptions): Promise<ProofPool> {
    const pool = new ProofPool(options);
    process.on("exit", pool.exitHook);
    try {
      await pool.startSlots(options.topology);
    } catch (err) {
      const first = err as Error;
      if (options.topology !== "subprocess" || options.fallbackToInProcess === false) {
        await pool.shutdown();
        throw new PoolStartError(`proof workers failed to start: ${first.message}`, { cause: first.message });
      }
      pool.logger.warn("subprocess proof workers failed to start; falling back to in-process workers", {
        error: first.message,
      });
      pool.fallback = { from: "subprocess", reason: first.message };
      pool.emit({ type: "fallback", from: "subprocess", to: "in-process", reason: first.message });
      try {
        await pool.startSlots("in-process");
      } catch (err2) {
        await pool.shutdown();
        throw new PoolStartError(
          `proof workers failed to start as processes (${first.message}) and in-process (${(err2 as Error).message})`,
          { subprocess: first.message, inProcess: (err2 as Error).message },
        );
      }
    }
    const interval = options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs;
    pool.heartbeatTimer = setInterval(() => {
      for (const s of pool.slots) s.heartbeat();
    }, interval);
    pool.heartbeatTimer.unref();
    pool.logger.notice("proof pool ready", {
      topology: pool.topologyNow,
      gpus: options.gpus.join(","),
      checkpointWindow: pool.modelNow.checkpointWindow,
    });
    return pool;
  }

  private async startSlots(topology: Topology): Promise<void> {
    this.topologyNow = topology;
    this.slots = this.options.gpus.map(
      (gpu) => new WorkerSlot(this.host, gpu, this.engineFor(gpu, topology)),
    );
    const attempts = this.options.startAttempts ?? DEFAULTS.startAttempts;
    const results = await Promise.allSettled(this.slots.map((s) => s.startWithRetries(attempts)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await Promise.all(this.slots.map((s) => s.close(0)));
      throw failed.reason as Error;
    }
  }

  private engineFor(gpu: number, topology: Topology): EngineKind {
    return engineFor(this.options, gpu, topology, this.logger);
  }

  private startTransport(slot: WorkerSlot): Promise<WorkerTransport> {
    return startTransport(this.options, this.topologyNow, slot, this.logger);
  }

  /** The command, arguments and environment of a worker child for a slot. */
  spawnSpec(slot: { gpu: number; engine: EngineKind }): SubprocessSpec {
    return spawnSpec(this.options, slot);
  }

  get topology(): Topology {
    return this.topologyNow;
  }

  get model(): PoolModel {
    return { ...this.modelNow };
  }

  /** Subscribes to pool events; returns the unsubscribe function. */
  on(listener: (e: PoolEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: PoolEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.logger.warn("pool event listener failed", { error: (err as Error).message });
      }
    }
  }

  stats(): PoolStats {
    return {
      topology: this.topologyNow,
      checkpointWindow: this.modelNow.checkpointWindow,
      pending: this.dispatch.pending,
      ...this.dispatch.counters,
      workers: this.slots.map((s) => ({
        gpu: s.gpu,
        engine: s.engine,
        state: s.state,
        pid: s.pid,
        inFlight: s.inFlightJobs,
        jobsDone: s.jobsDone,
        restarts: s.restarts,
      })),
    };
  }

  /** Whether the workers can prove now, for health checks (read-only; cheap enough for every probe). */
  health(): PoolHealth {
    const count = (states: readonly SlotState[]) => this.slots.filter((s) => states.includes(s.state)).length;
    return {
      topology: this.topologyNow,
      fellBackFrom: this.fallback?.from ?? null,
      fallbackReason: this.fallback?.reason ?? null,
      workers: this.slots.length,
      alive: count(["ready", "reloading"]),
      recovering: count(["starting", "restarting"]),
      lost: count(["disabled", "closed"]),
      closing: this.closing,
    };
  }

  /** Proves one group; resolves with every rollout proved and signed, or rejects with GroupDroppedError. */
  proveGroup(group: ProofGroup, context: ProofContext): Promise<ProvedGroup> {
    return this.dispatch.proveGroup(group, context);
  }

  /** Proves several groups; each settles on its own (a dropped group does not fail the others). */
  proveGroups(
    groups: readonly ProofGroup[],
    context: ProofContext,
  ): Promise<PromiseSettledResult<ProvedGroup>[]> {
    return Promise.allSettled(groups.map((g) => this.proveGroup(g, context)));
  }

  /** Resolves when every accepted group has settled. */
  onIdle(): Promise<void> {
    return this.dispatch.onIdle();
  }

  private onSlotChange(slot: WorkerSlot): void {
    this.emit({ type: "worker", gpu: slot.gpu, state: slot.state, pid: slot.pid, restarts: slot.restarts });
    this.choice.wakeWaiters();
    this.choice.checkDrained();
  }

  // ---- reload and shutdown ----------------------------------------------------------------------

  /**
   * Switches every worker to a new checkpoint in place (same processes): stops dispatching, lets
   * in-flight batches finish under their own checkpoint, sends reload to every worker and waits
   * for the acknowledgements. Groups still queued for the old checkpoint are then dropped with
   * StaleCheckpointError; a worker whose reload fails is restarted with the new weights.
   */
  async reload(
    model: PoolModel,
  ): Promise<{ gpu: number; outcome: "reloaded" | "restarted" | "unavailable" }[]> {
    if (this.closing) throw new ProofPoolError("cannot reload: the proof pool is shut down");
    while (this.reloading) await this.reloading.catch(() => undefined);
    const run = (async () => {
      const t0 = performance.now();
      await this.choice.drainInFlight();
      const previous = this.modelNow.checkpointWindow;
      this.modelNow = { ...model };
      const outcomes = await Promise.all(
        this.slots.map(async (s) => ({ gpu: s.gpu, outcome: await s.reload(model) })),
      );
      this.logger.notice("proof workers switched checkpoint", {
        from: previous,
        to: model.checkpointWindow,
        outcomes: outcomes.map((o) => `${o.gpu}:${o.outcome}`).join(","),
        elapsedMs: Math.round(performance.now() - t0),
      });
      return outcomes;
    })();
    this.reloading = run;
    try {
      return await run;
    } finally {
      this.reloading = null;
      this.choice.wakeWaiters();
    }
  }

  /** Ends every worker (shutdown request, then SIGKILL after the grace period); pending groups are dropped. */
  shutdown(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.dispatch.clearQueue();
      this.choice.wakeWaiters();
      this.dispatch.dropAll();
      const grace = this.options.shutdownGraceMs ?? DEFAULTS.shutdownGraceMs;
      await Promise.all(this.slots.map((s) => s.close(grace)));
      process.off("exit", this.exitHook);
      this.logger.info("proof pool stopped");
    })();
    return this.closed;
  }

  /**
   * Shuts the pool down on SIGINT/SIGTERM, then re-raises the signal so the process ends as it
   * would have. Returns a function that removes the handlers.
   */
  shutdownOnSignals(): () => void {
    const handler = (signal: NodeJS.Signals) => {
      this.logger.notice(`${signal}: stopping proof workers`);
      remove();
      void this.shutdown().finally(() => process.kill(process.pid, signal));
    };
    const remove = () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
    return remove;
  }
}
