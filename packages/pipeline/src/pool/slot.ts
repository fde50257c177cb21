import { setTimeout as sleep } from "node:timers/promises";
import {
  type EngineKind,
  IPC_PROTOCOL_VERSION,
  type LoadedReply,
  type ProvedReply,
  type ProveRequest,
  type StatusReply,
  type WorkerReply,
} from "@grail/ipc";
import type { Logger } from "@grail/log";
import { backoffSchedule, RetryFailure, retry } from "@grail/util";
import { WorkerFailure, WorkerStartError } from "./errors.js";
import type { WorkerExit, WorkerTransport } from "./transport.js";
import type { PoolModel, SlotState, Topology } from "./types.js";

/** What a slot needs from its pool. */
export interface SlotHost {
  readonly logger: Logger;
  /** The model every worker should hold now. */
  currentModel(): PoolModel;
  /** Starts the transport of a worker for this slot (process or thread). */
  startTransport(slot: WorkerSlot): Promise<WorkerTransport>;
  loadOptions(slot: WorkerSlot): {
    backend?: string;
    device?: number;
    threads?: number;
    options?: Record<string, unknown>;
  };
  readonly timeouts: {
    startupMs: number;
    jobMs: number;
    heartbeatTimeoutMs: number;
    restartBackoffMs: readonly number[];
    /** Delay before the 1st, 2nd, … new try of a disabled slot; the last value repeats. */
    reenableBackoffMs: readonly number[];
  };
  /** Restarts allowed within restartWindowMs before the slot is disabled. */
  readonly restartLimit: { count: number; windowMs: number };
  /** Called when the slot's worker died with jobs in flight, after they were failed. */
  onSlotChange(slot: WorkerSlot): void;
}

type ProveOutcome = { reply: ProvedReply } | { error: WorkerReply & { type: "error" } };

interface InFlight {
  tokens: number;
  timer: NodeJS.Timeout;
  reject: (e: Error) => void;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * One proof GPU: supervises the worker serving it (start, load, heartbeat, restart) and tracks the
 * batches in flight on it. A dead or hung worker fails its in-flight batches with WorkerFailure
 * (the pool re-dispatches them) and is restarted with backoff; too many restarts disable the slot,
 * which is then tried again after a longer, growing delay, so a GPU that recovers comes back.
 */
export class WorkerSlot {
  readonly gpu: number;
  readonly engine: EngineKind;
  state: SlotState = "starting";
  transport: WorkerTransport | null = null;
  restarts = 0;
  jobsDone = 0;
  lastStatus: StatusReply | null = null;
  private readonly host: SlotHost;
  private readonly logger: Logger;
  private readonly inFlight = new Map<number, InFlight>();
  private jobSeq = 0;
  private healthOutstanding = false;
  private restartTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  /** Disables in a row (reset once the slot stays up for a restart window), the last one and its delay. */
  private disables = 0;
  private disabledAt = 0;
  private disabledForMs = 0;
  private starting: Promise<void> | null = null;

  constructor(host: SlotHost, gpu: number, engine: EngineKind) {
    this.host = host;
    this.gpu = gpu;
    this.engine = engine;
    this.logger = host.logger.child({ gpu, engine });
  }

  get topology(): Topology | null {
    return this.transport?.topology ?? null;
  }

  get pid(): number | null {
    return this.transport?.pid ?? null;
  }

  get inFlightJobs(): number {
    return this.inFlight.size;
  }

  /** Work queued on this worker, in tokens: the dispatcher's load measure. */
  get inFlightTokens(): number {
    let t = 0;
    for (const j of this.inFlight.values()) t += j.tokens;
    return t;
  }

  /** Starts (or restarts) the worker and loads the pool's current model. Throws WorkerStartError. */
  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /**
   * The first start: a worker that died, hung or sent a corrupt reply while starting is tried
   * again with the restart backoff, up to `attempts` times; one that refused the model is not.
   */
  async startWithRetries(attempts: number): Promise<void> {
    try {
      await retry(() => this.start(), {
        attempts,
        backoff: backoffSchedule(this.host.timeouts.restartBackoffMs),
        isRetryable: (err) => !(err instanceof WorkerStartError && err.permanent) && this.state !== "closed",
        onRetry: ({ attempt, delayMs, error }) =>
          this.logger.warn("proof worker failed to start; trying again", {
            attempt,
            attempts,
            delayMs,
            error: (error as Error).message,
          }),
      });
    } catch (err) {
      // The pool reports the start's own error, not the loop's.
      throw err instanceof RetryFailure ? err.lastError : err;
    }
  }

  private async doStart(): Promise<void> {
    const model = this.host.currentModel();
    const transport = await this.host.startTransport(this);
    let reply: WorkerReply;
    try {
      reply = await this.withTimeout(
        transport.request({
          type: "load",
          protocolVersion: IPC_PROTOCOL_VERSION,
          modelDir: model.modelDir,
          checkpointWindow: model.checkpointWindow,
          ...this.host.loadOptions(this),
        }),
        this.host.timeouts.startupMs,
        "model load",
      );
    } catch (err) {
      transport.kill("load did not finish");
      await transport.exited;
      throw new WorkerStartError(`GPU ${this.gpu}: ${(err as Error).message}`, { gpu: this.gpu });
    }
    if (reply.type !== "loaded") {
      transport.kill("load failed");
      await transport.exited;
      const detail = reply.type === "error" ? `${reply.code}: ${reply.message}` : `unexpected ${reply.type}`;
      throw new WorkerStartError(
        `GPU ${this.gpu}: the worker could not load ${model.modelDir} (${detail})`,
        { gpu: this.gpu, modelDir: model.modelDir },
        // A worker that answered with an error understood the request: another try fails the same way.
        { permanent: reply.type === "error" },
      );
    }
    const loaded = reply as LoadedReply;
    if (this.state === "closed") {
      transport.kill("pool closed during start");
      await transport.exited;
      return;
    }
    this.transport = transport;
    // Attached only now: a worker that dies while starting is reported by the throw above instead.
    void transport.exited.then((exit) => this.onExit(transport, exit));
    this.state = "ready";
    this.logger.notice("proof worker ready", {
      pid: transport.pid,
      topology: transport.topology,
      device: loaded.device,
      checkpointWindow: loaded.checkpointWindow,
      loadMs: Math.round(loaded.elapsedMs),
      runtime: transport.hello.runtime,
    });
    this.host.onSlotChange(this);
  }

  private withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WorkerFailure(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Sends one batch; resolves with the proved reply or the worker's error reply. */
  async prove(req: Omit<ProveRequest, "type" | "id">): Promise<ProveOutcome> {
    const transport = this.transport;
    if (!transport || this.state !== "ready") {
      throw new WorkerFailure(`GPU ${this.gpu} has no ready worker (${this.state})`);
    }
    const key = ++this.jobSeq;
    const failed = new Promise<never>((_, reject) => {
      const timer = setTimeout(() => {
        this.fail(`a batch took longer than ${this.host.timeouts.jobMs} ms (hung worker)`);
      }, this.host.timeouts.jobMs);
      this.inFlight.set(key, { tokens: req.tokens.length, timer, reject });
    });
    try {
      const reply = await Promise.race([transport.request({ type: "prove", ...req }), failed]);
      if (reply.type === "proved") {
        this.jobsDone++;
        return { reply };
      }
      if (reply.type === "error") {
        if (reply.code === "not_loaded" || reply.code === "stale_checkpoint") {
          // The worker lost its model (a failed reload): restart it with the current one.
          this.fail(`worker answered ${reply.code}: ${reply.message}`);
        }
        return { error: reply };
      }
      this.fail(`worker answered a prove with ${reply.type}`);
      throw new WorkerFailure(`GPU ${this.gpu}: unexpected ${reply.type} reply to prove`);
    } finally {
      const j = this.inFlight.get(key);
      if (j) clearTimeout(j.timer);
      this.inFlight.delete(key);
      this.host.onSlotChange(this);
    }
  }

  /** Reloads the weights in place; on failure the worker is restarted with the new model. */
  async reload(model: PoolModel): Promise<"reloaded" | "restarted" | "unavailable"> {
    const transport = this.transport;
    if (!transport || this.state !== "ready") return this.recover();
    this.state = "reloading";
    try {
      const reply = await this.withTimeout(
        transport.request({
          type: "reload",
          modelDir: model.modelDir,
          checkpointWindow: model.checkpointWindow,
        }),
        this.host.timeouts.startupMs,
        "reload",
      );
      if (reply.type === "reloaded" && reply.checkpointWindow === model.checkpointWindow) {
        this.state = "ready";
        this.logger.info("weights reloaded in place", {
          pid: transport.pid,
          checkpointWindow: model.checkpointWindow,
          reloadMs: Math.round(reply.elapsedMs),
        });
        this.host.onSlotChange(this);
        return "reloaded";
      }
      const detail = reply.type === "error" ? `${reply.code}: ${reply.message}` : `unexpected ${reply.type}`;
      this.fail(`reload failed (${detail})`);
    } catch (err) {
      this.fail(`reload failed: ${(err as Error).message}`);
    }
    return this.recover();
  }

  /** Waits for the restart that a failure scheduled; reports whether the slot came back. */
  private async recover(): Promise<"restarted" | "unavailable"> {
    for (;;) {
      if (this.state === "ready") return "restarted";
      if (this.state === "disabled" || this.state === "closed") return "unavailable";
      if (this.starting) await this.starting.catch(() => undefined);
      else await sleep(20);
    }
  }

  /** Sends a health request unless one is outstanding; no answer in time means the worker hangs. */
  heartbeat(): void {
    const transport = this.transport;
    if (!transport?.alive || this.healthOutstanding) return;
    if (this.state !== "ready" && this.state !== "reloading") return;
    this.healthOutstanding = true;
    this.withTimeout(
      transport.request({ type: "health" }),
      this.host.timeouts.heartbeatTimeoutMs,
      "health check",
    )
      .then(
        (reply) => {
          if (reply.type === "status") this.lastStatus = reply;
        },
        (err: Error) => {
          if (transport === this.transport && transport.alive) this.fail(`no heartbeat: ${err.message}`);
        },
      )
      .finally(() => {
        this.healthOutstanding = false;
      });
  }

  /** Kills the worker; its exit fails the in-flight batches and schedules a restart. */
  fail(reason: string): void {
    const transport = this.transport;
    if (!transport?.alive) return;
    this.logger.warn("killing proof worker", { pid: transport.pid, reason });
    transport.kill(reason);
  }

  private onExit(transport: WorkerTransport, exit: WorkerExit): void {
    if (transport !== this.transport) return;
    const err = new WorkerFailure(`GPU ${this.gpu}: proof worker (pid ${transport.pid}) ${exit.reason}`, {
      gpu: this.gpu,
      pid: transport.pid,
      ...exit,
    });
    for (const j of this.inFlight.values()) {
      clearTimeout(j.timer);
      j.reject(err);
    }
    this.inFlight.clear();
    this.healthOutstanding = false;
    if (this.state === "closed") return;
    this.logger.warn("proof worker exited", { pid: transport.pid, reason: exit.reason, code: exit.code });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.state === "closed" || this.state === "disabled") return;
    const now = Date.now();
    const { count, windowMs } = this.host.restartLimit;
    this.restartTimes = this.restartTimes.filter((t) => now - t < windowMs);
    if (this.restartTimes.length >= count) {
      const delay = this.disable();
      this.logger.error(
        `GPU ${this.gpu} disabled: its proof worker failed ${count} times within ${Math.round(windowMs / 1000)} s; next try in ${seconds(delay)}; check the worker log lines above`,
      );
      return;
    }
    const delay = backoffSchedule(this.host.timeouts.restartBackoffMs)(this.restartTimes.length + 1, null);
    this.restartTimes.push(now);
    this.state = "restarting";
    this.host.onSlotChange(this);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state !== "restarting") return;
      this.restarts++;
      this.start().catch((err: Error) => {
        this.logger.error("proof worker restart failed", { error: err.message });
        if (this.state === "restarting") this.scheduleRestart();
      });
    }, delay);
  }

  /** Marks the slot disabled and schedules its next try; returns the delay. */
  private disable(): number {
    const now = Date.now();
    // A slot that stayed up for a whole restart window after its last try starts its backoff over.
    if (now - this.disabledAt > this.disabledForMs + this.host.restartLimit.windowMs) this.disables = 0;
    const delay = backoffSchedule(this.host.timeouts.reenableBackoffMs)(this.disables + 1, null);
    this.disables++;
    this.disabledAt = now;
    this.disabledForMs = delay;
    this.state = "disabled";
    this.host.onSlotChange(this);
    this.restartTimer = setTimeout(() => this.retryDisabled(), delay);
    return delay;
  }

  private retryDisabled(): void {
    this.restartTimer = null;
    if (this.state !== "disabled") return;
    this.state = "restarting";
    this.restarts++;
    this.host.onSlotChange(this);
    this.start().then(
      () => this.logger.notice(`GPU ${this.gpu} is back: its proof worker started and loaded the model`),
      (err: Error) => {
        if (this.state !== "restarting") return;
        const delay = this.disable();
        this.logger.error(`GPU ${this.gpu} is still failing; next try in ${seconds(delay)}`, {
          error: err.message,
        });
      },
    );
  }

  /** Shuts the worker down (shutdown request, then kill after graceMs). */
  async close(graceMs: number): Promise<void> {
    this.state = "closed";
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    const transport = this.transport;
    if (transport) await transport.close(graceMs);
  }
}
