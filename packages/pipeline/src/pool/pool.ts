import type { EngineKind, ProvedReply } from "@grail/ipc";
import { createLogger, type Logger, type Verbosity } from "@grail/log";
import type { WorkerEntryPoints } from "@grail/proof-worker/entry-points";
import { bytesToHex, commitBinding, hashCommitments, LAYER_INDEX } from "@grail/protocol";
import PQueue from "p-queue";
import {
  GroupDroppedError,
  InvalidGroupError,
  PoolClosedError,
  PoolStartError,
  ProofPoolError,
  StaleCheckpointError,
} from "./errors.js";
import { physicalGpuId } from "./gpus.js";
import { type SlotHost, WorkerSlot } from "./slot.js";

export type { PoolStats, PoolWorkerStats } from "./types.js";

import { type SubprocessSpec, SubprocessWorker } from "./subprocess.js";
import { ThreadWorker } from "./threads.js";
import type { WorkerTransport } from "./transport.js";
import type {
  HotkeySigner,
  PoolModel,
  PoolStats,
  ProofContext,
  ProofGroup,
  ProvedGroup,
  ProvedRollout,
  SlotState,
  Topology,
} from "./types.js";

export interface ProofPoolOptions {
  /** Proof GPUs relative to the coordinator's CUDA_VISIBLE_DEVICES: one worker each. */
  gpus: readonly number[];
  topology: Topology;
  /** The weights to load at start. */
  model: PoolModel;
  signer: HotkeySigner;
  /** Files workers are started from: workerEntryPoints() of @grail/proof-worker. */
  entryPoints: WorkerEntryPoints;
  /** Engine of every worker unless engineByGpu says otherwise. Default "native". */
  engine?: EngineKind;
  engineByGpu?: Readonly<Record<number, EngineKind>>;
  /** Engine backend; default: the engine's choice (CUDA when available). */
  backend?: "cpu" | "cuda";
  /** CPU backend threads per worker; default all cores. */
  threadsPerWorker?: number;
  /** Engine-specific load options (e.g. the torch worker's attention implementation). */
  engineOptions?: Record<string, unknown>;
  nodePath?: string;
  pythonPath?: string;
  /** Base environment of worker children; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The coordinator's CUDA_VISIBLE_DEVICES; default process.env.CUDA_VISIBLE_DEVICES. */
  cudaVisibleDevices?: string | null;
  /** Batches sent to one worker before it answers; 2 keeps a GPU busy across the IPC round trip. */
  maxInFlightPerWorker?: number;
  /** Attempts per group before it is dropped. Default 2. */
  maxAttempts?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** A batch not answered in this time marks its worker as hung. Default 600 s (the reference's). */
  jobTimeoutMs?: number;
  /** Model load (and reload) limit. Default 600 s. */
  startupTimeoutMs?: number;
  helloTimeoutMs?: number;
  /** Delay before the 1st, 2nd, … restart of a worker; the last value repeats. */
  restartBackoffMs?: readonly number[];
  /** More than `count` restarts within `windowMs` disable a GPU. */
  restartLimit?: { count: number; windowMs: number };
  /** Delay before the 1st, 2nd, … new try of a disabled GPU; the last value repeats. */
  reenableBackoffMs?: readonly number[];
  /** Tries of a worker's first start that dies, hangs or answers garbage (not one refusing the model). Default 3. */
  startAttempts?: number;
  /** When subprocess workers cannot start, use in-process workers (the reference's behaviour). Default true. */
  fallbackToInProcess?: boolean;
  /** Recompute each binding from the returned sketches before signing it. Default true. */
  verifyBindings?: boolean;
  shutdownGraceMs?: number;
  logger?: Logger;
  /** Log verbosity of the workers. Default 0. */
  verbosity?: Verbosity;
  maxFrameBytes?: number;
}

/** ProofPool.health(): how many workers can prove, and whether the pool runs as configured. */
export interface PoolHealth {
  topology: Topology;
  /** The topology configured, when its workers failed to start and the pool fell back; else null. */
  fellBackFrom: Topology | null;
  fallbackReason: string | null;
  workers: number;
  /** Ready, or switching checkpoint in place (a normal, bounded state). */
  alive: number;
  /** Starting, or waiting to restart after a crash, a hang or a failed reload. */
  recovering: number;
  /** Disabled after too many restarts (tried again with a growing delay), or closed. */
  lost: number;
  /** shutdown() was called. */
  closing: boolean;
}

export type PoolEvent =
  | { type: "dispatched"; groupId: string; gpu: number; pid: number | null; attempt: number }
  | { type: "proved"; groupId: string; gpu: number; pid: number; attempt: number; proveMs: number }
  | { type: "retry"; groupId: string; reason: string; attempt: number }
  | { type: "dropped"; groupId: string; reason: string; attempts: number }
  | { type: "worker"; gpu: number; state: SlotState; pid: number | null; restarts: number }
  | { type: "fallback"; from: Topology; to: Topology; reason: string };

interface GroupEntry {
  group: ProofGroup;
  ctx: Required<ProofContext>;
  tokens: Int32Array;
  lengths: Int32Array;
  promptLens: Int32Array;
  starts: Int32Array;
  attempts: number;
  resolve: (g: ProvedGroup) => void;
  reject: (e: Error) => void;
}

const DEFAULTS = {
  maxInFlightPerWorker: 2,
  maxAttempts: 2,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 30_000,
  jobTimeoutMs: 600_000,
  startupTimeoutMs: 600_000,
  helloTimeoutMs: 60_000,
  restartBackoffMs: [0, 1_000, 5_000, 15_000] as readonly number[],
  restartLimit: { count: 5, windowMs: 600_000 },
  reenableBackoffMs: [60_000, 300_000, 900_000] as readonly number[],
  startAttempts: 3,
  shutdownGraceMs: 5_000,
};

function packGroup(group: ProofGroup): Pick<GroupEntry, "tokens" | "lengths" | "promptLens" | "starts"> {
  const n = group.rollouts.length;
  if (n === 0)
    throw new InvalidGroupError(`group ${group.groupId} has no rollouts`, { groupId: group.groupId });
  const lengths = new Int32Array(n);
  const promptLens = new Int32Array(n);
  const starts = new Int32Array(n + 1);
  group.rollouts.forEach((r, i) => {
    const len = r.tokens.length;
    if (len < 2 || !Number.isInteger(r.promptLen) || r.promptLen < 1 || r.promptLen > len) {
      throw new InvalidGroupError(
        `group ${group.groupId} rollout ${i}: ${len} tokens with promptLen ${r.promptLen}; need ≥ 2 tokens and 1 ≤ promptLen ≤ tokens`,
        { groupId: group.groupId, rollout: i },
      );
    }
    lengths[i] = len;
    promptLens[i] = r.promptLen;
    starts[i + 1] = starts[i]! + len;
  });
  const tokens = new Int32Array(starts[n]!);
  group.rollouts.forEach((r, i) => {
    for (let j = 0; j < r.tokens.length; j++) {
      const t = r.tokens[j]!;
      if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff) {
        throw new InvalidGroupError(
          `group ${group.groupId} rollout ${i}: token ${t} at ${j} is not a token id`,
          {
            groupId: group.groupId,
            rollout: i,
            position: j,
          },
        );
      }
      tokens[starts[i]! + j] = t;
    }
  });
  return { tokens, lengths, promptLens, starts };
}

/**
 * The proof worker pool: one worker per proof GPU, as child processes pinned with
 * CUDA_VISIBLE_DEVICES or as worker threads in this process. Whole groups go to the least-loaded
 * worker (in-flight tokens) with at most maxInFlightPerWorker batches each; the coordinator's
 * hotkey signs every returned binding. A group resolves complete or rejects with
 * GroupDroppedError: a batch whose worker failed is re-dispatched, and one that failed
 * maxAttempts times is dropped with the reason.
 */
export class ProofPool {
  private readonly options: ProofPoolOptions;
  private readonly logger: Logger;
  private readonly queue: PQueue;
  private readonly maxInFlight: number;
  private readonly maxAttempts: number;
  private topologyNow: Topology;
  private modelNow: PoolModel;
  private slots: WorkerSlot[] = [];
  private readonly reserved = new Map<WorkerSlot, number>();
  private slotWaiters: ((s: WorkerSlot | null) => void)[] = [];
  private readonly entries = new Set<GroupEntry>();
  private idleWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private listeners = new Set<(e: PoolEvent) => void>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reloading: Promise<unknown> | null = null;
  private closing = false;
  private closed: Promise<void> | null = null;
  private counters = { proved: 0, retried: 0, dropped: 0 };
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
    this.maxAttempts = options.maxAttempts ?? DEFAULTS.maxAttempts;
    this.topologyNow = options.topology;
    this.modelNow = { ...options.model };
    this.queue = new PQueue({ concurrency: Math.max(1, options.gpus.length * this.maxInFlight) });
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
    const engine = this.options.engineByGpu?.[gpu] ?? this.options.engine ?? "native";
    if (engine === "torch" && topology === "in-process") {
      this.logger.warn("the torch engine runs only as a worker process; using the native engine in-process", {
        gpu,
      });
      return "native";
    }
    return engine;
  }

  private startTransport(slot: WorkerSlot): Promise<WorkerTransport> {
    const logger = this.logger.child({ gpu: slot.gpu });
    if (this.topologyNow === "in-process") {
      return ThreadWorker.start({
        filename: this.options.entryPoints.thread,
        gpu: slot.gpu,
        verbosity: this.options.verbosity ?? 0,
        logger,
      });
    }
    return SubprocessWorker.start({
      spec: this.spawnSpec(slot),
      logger,
      helloTimeoutMs: this.options.helloTimeoutMs ?? DEFAULTS.helloTimeoutMs,
      maxFrameBytes: this.options.maxFrameBytes,
    });
  }

  /** The command, arguments and environment of a worker child for a slot. */
  spawnSpec(slot: { gpu: number; engine: EngineKind }): SubprocessSpec {
    const visible =
      this.options.cudaVisibleDevices === undefined
        ? process.env.CUDA_VISIBLE_DEVICES
        : this.options.cudaVisibleDevices;
    const env: NodeJS.ProcessEnv = {
      ...(this.options.env ?? process.env),
      CUDA_VISIBLE_DEVICES: physicalGpuId(slot.gpu, visible),
      GRAIL_WORKER_IPC: "1",
      GRAIL_WORKER_GPU: String(slot.gpu),
      GRAIL_WORKER_VERBOSITY: String(this.options.verbosity ?? 0),
      PYTHONUNBUFFERED: "1",
    };
    if (this.options.maxFrameBytes) env.GRAIL_WORKER_MAX_FRAME_BYTES = String(this.options.maxFrameBytes);
    const entry = this.options.entryPoints;
    return slot.engine === "torch"
      ? { command: this.options.pythonPath ?? "python3", args: [entry.torch], env }
      : { command: this.options.nodePath ?? process.execPath, args: [entry.main], env };
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
      pending: this.entries.size,
      ...this.counters,
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
    if (this.closing) {
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

  /** Proves several groups; each settles on its own (a dropped group does not fail the others). */
  proveGroups(
    groups: readonly ProofGroup[],
    context: ProofContext,
  ): Promise<PromiseSettledResult<ProvedGroup>[]> {
    return Promise.allSettled(groups.map((g) => this.proveGroup(g, context)));
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
        this.logger.error("proof dispatch failed unexpectedly", {
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
    const slot = await this.acquireSlot();
    if (!this.entries.has(entry)) {
      if (slot) this.release(slot);
      return;
    }
    if (!slot) {
      const reason = this.closing ? "the proof pool is shut down" : "no proof worker is available";
      const Err = this.closing ? PoolClosedError : GroupDroppedError;
      this.drop(entry, new Err(entry.group.groupId, reason, { attempts: entry.attempts }));
      return;
    }
    if (entry.ctx.checkpointWindow !== this.modelNow.checkpointWindow) {
      this.release(slot);
      this.drop(
        entry,
        new StaleCheckpointError(
          entry.group.groupId,
          `it was generated with checkpoint ${entry.ctx.checkpointWindow}, the workers now hold ${this.modelNow.checkpointWindow}`,
          { groupCheckpoint: entry.ctx.checkpointWindow, poolCheckpoint: this.modelNow.checkpointWindow },
        ),
      );
      return;
    }
    entry.attempts++;
    this.release(slot);
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
    this.emit({
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
      rollouts = this.unpackAndSign(entry, reply);
    } catch (err) {
      this.retryOrDrop(entry, (err as Error).message);
      return;
    }
    this.counters.proved++;
    this.emit({
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

  private unpackAndSign(entry: GroupEntry, reply: ProvedReply): ProvedRollout[] {
    const n = entry.lengths.length;
    const completion = entry.lengths.reduce((a, len, i) => a + len - entry.promptLens[i]!, 0);
    if (
      reply.eosProbs.length !== n ||
      reply.sVals.length !== entry.tokens.length ||
      reply.logprobs.length !== completion
    ) {
      throw new Error(
        `result shape does not match the batch: ${reply.eosProbs.length} rollouts, ${reply.sVals.length} sketches, ${reply.logprobs.length} logprobs for ${n} rollouts, ${entry.tokens.length} tokens, ${completion} completion tokens`,
      );
    }
    const verify = this.options.verifyBindings ?? true;
    const out: ProvedRollout[] = [];
    let lpAt = 0;
    for (let i = 0; i < n; i++) {
      const tokens = entry.tokens.subarray(entry.starts[i]!, entry.starts[i + 1]!);
      const sVals = reply.sVals.slice(entry.starts[i]!, entry.starts[i + 1]!);
      const c = entry.lengths[i]! - entry.promptLens[i]!;
      const logprobs = reply.logprobs.slice(lpAt, lpAt + c);
      lpAt += c;
      // NaN weights or a faulty device give NaN logprobs that validators reject; never sign them.
      const bad = logprobs.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new Error(
          `rollout ${i}: logprob ${bad} is ${logprobs[bad]}; the worker's model or device is broken`,
        );
      }
      const commitmentsHash = reply.commitmentsHashes.slice(i * 32, i * 32 + 32);
      const bindingHash = reply.bindingHashes.slice(i * 32, i * 32 + 32);
      if (verify) {
        // The signature vouches for the binding; recompute it from what will be uploaded.
        const expected = commitBinding({
          tokens,
          randomnessHex: entry.ctx.randomnessHex,
          modelName: entry.ctx.modelName,
          layerIndex: entry.ctx.layerIndex,
          sketches: sVals,
        });
        if (bytesToHex(expected) !== bytesToHex(bindingHash)) {
          throw new Error(
            `rollout ${i}: the worker's commit binding does not match the returned sketches (commitments hash ${bytesToHex(commitmentsHash) === bytesToHex(hashCommitments(sVals)) ? "matches" : "differs"})`,
          );
        }
      }
      out.push({
        sVals,
        logprobs,
        eosProb: reply.eosProbs[i]!,
        commitmentsHash,
        bindingHash,
        signature: this.options.signer.sign(bindingHash),
      });
    }
    return out;
  }

  private retryOrDrop(entry: GroupEntry, reason: string): void {
    if (!this.entries.has(entry)) return;
    if (this.closing) {
      this.drop(entry, new PoolClosedError(entry.group.groupId, "the proof pool is shut down"));
      return;
    }
    if (entry.attempts >= this.maxAttempts) {
      this.drop(
        entry,
        new GroupDroppedError(entry.group.groupId, `failed ${entry.attempts} times; last: ${reason}`, {
          attempts: entry.attempts,
        }),
      );
      return;
    }
    this.counters.retried++;
    this.logger.info("re-dispatching group", {
      groupId: entry.group.groupId,
      attempt: entry.attempts,
      reason,
    });
    this.emit({ type: "retry", groupId: entry.group.groupId, reason, attempt: entry.attempts });
    this.enqueue(entry, 1);
  }

  private drop(entry: GroupEntry, err: GroupDroppedError): void {
    if (!this.entries.has(entry)) return;
    this.counters.dropped++;
    if (!(err instanceof PoolClosedError)) {
      this.logger.warn("group dropped", {
        groupId: entry.group.groupId,
        reason: err.reason,
        attempts: entry.attempts,
      });
    }
    this.emit({
      type: "dropped",
      groupId: entry.group.groupId,
      reason: err.reason,
      attempts: entry.attempts,
    });
    this.settle(entry, err);
  }

  // ---- slot selection ---------------------------------------------------------------------------

  private pickSlot(): WorkerSlot | null {
    if (this.reloading || this.closing) return null;
    let best: WorkerSlot | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const s of this.slots) {
      if (s.state !== "ready") continue;
      const jobs = s.inFlightJobs + (this.reserved.get(s) ?? 0);
      if (jobs >= this.maxInFlight) continue;
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

  private release(slot: WorkerSlot): void {
    const n = (this.reserved.get(slot) ?? 0) - 1;
    if (n > 0) this.reserved.set(slot, n);
    else this.reserved.delete(slot);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.reserved.size > 0 || this.slots.some((s) => s.inFlightJobs > 0)) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private noWorkerCanComeBack(): boolean {
    return this.slots.every((s) => s.state === "disabled" || s.state === "closed");
  }

  private acquireSlot(): Promise<WorkerSlot | null> {
    const s = this.pickSlot();
    if (s) return Promise.resolve(s);
    if (this.closing || this.noWorkerCanComeBack()) return Promise.resolve(null);
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private onSlotChange(slot: WorkerSlot): void {
    this.emit({ type: "worker", gpu: slot.gpu, state: slot.state, pid: slot.pid, restarts: slot.restarts });
    this.wakeWaiters();
    this.checkDrained();
  }

  private wakeWaiters(): void {
    while (this.slotWaiters.length > 0) {
      const s = this.pickSlot();
      if (!s) break;
      this.slotWaiters.shift()!(s);
    }
    if (this.closing || this.noWorkerCanComeBack()) {
      const waiters = this.slotWaiters;
      this.slotWaiters = [];
      for (const w of waiters) w(null);
    }
  }

  private drainInFlight(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
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
      await this.drainInFlight();
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
      this.wakeWaiters();
    }
  }

  /** Ends every worker (shutdown request, then SIGKILL after the grace period); pending groups are dropped. */
  shutdown(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.queue.clear();
      this.wakeWaiters();
      for (const entry of [...this.entries]) {
        this.drop(entry, new PoolClosedError(entry.group.groupId, "the proof pool is shut down"));
      }
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
