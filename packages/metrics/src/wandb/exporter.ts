import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "@grail/log";
import type { Registry } from "prom-client";
import { MetricsError } from "../errors.js";
import type { ThreadData, ThreadReply, ThreadRequest } from "./protocol.js";
import { RowBuilder } from "./rows.js";

/** Where the exporter reports its run's fate (the miner passes its logger). */
export type MonitoringLogger = Pick<Logger, "notice" | "warn" | "debug">;

export interface WandbOptions {
  readonly apiKey: string;
  /** W&B API server (WANDB_BASE_URL). Default https://api.wandb.ai. */
  readonly baseUrl?: string;
  readonly project: string;
  /** Team or user; null or absent: the API key's own. */
  readonly entity?: string | null;
  /** Display name of the run, e.g. `mining_<wallet>`. */
  readonly runName: string;
  /** The run's config, shown and searchable in W&B. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Counter and histogram updates that send a row at once (GRAIL_METRIC_BUFFER_SIZE). */
  readonly bufferSize: number;
  /** Longest a changed metric waits for its row, ms (GRAIL_METRIC_FLUSH_INTERVAL). */
  readonly flushIntervalMs: number;
  /** How long the run may take to start, ms (WANDB_INIT_TIMEOUT). */
  readonly initTimeoutMs: number;
  readonly logger?: MonitoringLogger;
}

/** How long the run may take to send its last rows and finish when the miner stops. */
const FINISH_TIMEOUT_MS = 30_000;
const SILENT: MonitoringLogger = { notice() {}, warn() {}, debug() {} };

/** The compiled thread: a test runner loads this file from src/, the thread always runs from dist/. */
export function wandbThreadPath(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith(".ts")
    ? here.replace(/([/\\])src([/\\])wandb([/\\])exporter\.ts$/, "$1dist$2wandb$3thread.js")
    : here.replace(/exporter\.js$/, "thread.js");
}

/**
 * Sends the miner's metrics to a W&B run as rows (see RowBuilder): a row goes out once
 * `bufferSize` counter and histogram updates have piled up, or `flushIntervalMs` after any metric
 * changed, and once more when the exporter closes. The run lives in a worker thread (see
 * thread.ts). W&B never stops the miner: a run that does not start within `initTimeoutMs`, is
 * refused, or fails later is logged once, and from then on nothing more is sent.
 */
export class WandbExporter {
  #state: "starting" | "running" | "stopped" = "starting";
  #updates = 0;
  #changed = false;
  #closing: Promise<void> | null = null;
  #finished: (() => void) | null = null;
  /** The SDK's last console line, for the reason of a failure. */
  #clientSaid: string | null = null;
  readonly #settled: Promise<void>;
  #settle!: () => void;
  readonly #rows = new RowBuilder();
  readonly #worker: Worker;
  readonly #flushTimer: NodeJS.Timeout;
  readonly #initTimer: NodeJS.Timeout;
  readonly #log: MonitoringLogger;

  constructor(
    private readonly registry: Registry,
    private readonly options: WandbOptions,
  ) {
    const { bufferSize, flushIntervalMs, initTimeoutMs } = options;
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
      throw new MetricsError(`W&B buffer size must be a whole number ≥ 1, got ${bufferSize}`, { bufferSize });
    }
    for (const [name, ms] of [
      ["flush interval", flushIntervalMs],
      ["init timeout", initTimeoutMs],
    ] as const) {
      if (!(ms > 0) || !Number.isFinite(ms)) {
        throw new MetricsError(`W&B ${name} must be a positive number of milliseconds, got ${ms}`, {
          [name]: ms,
        });
      }
    }
    const entry = wandbThreadPath();
    if (!existsSync(entry)) {
      throw new MetricsError(
        `${entry} is missing: build the metrics package first (pnpm --filter @grail/metrics build)`,
        {
          entry,
        },
      );
    }
    this.#log = options.logger ?? SILENT;
    this.#settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
    const workerData: ThreadData = {
      apiKey: options.apiKey,
      baseUrl: options.baseUrl ?? "https://api.wandb.ai",
      project: options.project,
      entity: options.entity ?? null,
      name: options.runName,
      config: options.config ?? {},
    };
    // The SDK reads WANDB_* itself (WANDB_WORKER breaks it): it gets its settings from us alone.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WANDB_")));
    this.#worker = new Worker(entry, { workerData, env, execArgv: [], stdout: true, stderr: true });
    this.#worker.unref();
    for (const stream of [this.#worker.stdout, this.#worker.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        if (line.trim() === "") return;
        // Its messages start a line ("Fatal HTTP error (401): …"); dumps and stacks follow indented.
        if (/^[A-Z]/.test(line)) this.#clientSaid = line.length > 200 ? `${line.slice(0, 200)}…` : line;
        this.#log.debug("W&B client", { line });
      });
    }
    this.#worker.on("message", (reply: ThreadReply) => this.#onReply(reply));
    this.#worker.on("error", (err) => this.#stop(err.message));
    this.#worker.on("exit", (code) => this.#stop(`its thread exited with code ${code}`));
    this.#initTimer = setTimeout(
      () => this.#stop(`it did not start within ${initTimeoutMs / 1000} s (WANDB_INIT_TIMEOUT)`),
      initTimeoutMs,
    );
    this.#initTimer.unref();
    this.#flushTimer = setInterval(() => void this.flush(), flushIntervalMs);
    this.#flushTimer.unref();
  }

  /** A metric changed; `counted` for counter and histogram updates, which fill the buffer. */
  note(counted: boolean): void {
    if (this.#state === "stopped") return;
    this.#changed = true;
    if (counted && ++this.#updates >= this.options.bufferSize) void this.flush();
  }

  /** Sends a row now if any metric changed since the last one. */
  async flush(): Promise<void> {
    if (this.#state === "stopped" || !this.#changed) return;
    this.#changed = false;
    this.#updates = 0;
    const row = this.#rows.build(await this.registry.getMetricsAsJSON());
    this.#post({ type: "log", row });
  }

  /** Sends the last row, then finishes the run and ends its thread. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#flushTimer);
    // Unreferenced while the miner runs; a stopping process must wait for the run to settle.
    this.#initTimer.ref();
    this.#worker.ref();
    await this.flush();
    await this.#settled;
    if (this.#state !== "running") return;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((resolve) => {
        this.#finished = () => resolve(true);
        this.#post({ type: "finish" });
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), FINISH_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!done)
      this.#log.warn("W&B run did not finish in time; its last rows may be missing", {
        seconds: FINISH_TIMEOUT_MS / 1000,
      });
    this.#state = "stopped";
    await this.#worker.terminate();
  }

  #post(request: ThreadRequest): void {
    if (this.#state !== "stopped") this.#worker.postMessage(request);
  }

  #onReply(reply: ThreadReply): void {
    if (reply.type === "started") {
      if (this.#state !== "starting") return;
      this.#state = "running";
      clearTimeout(this.#initTimer);
      this.#settle();
      this.#log.notice("W&B run started", { url: reply.url, run: reply.id, name: this.options.runName });
    } else if (reply.type === "failed") {
      this.#stop(reply.error);
    } else {
      this.#finished?.();
    }
  }

  /** W&B is done for this process: logged once, the thread ended, the miner goes on. */
  #stop(reason: string): void {
    if (this.#state === "stopped") return;
    const started = this.#state === "running";
    this.#state = "stopped";
    clearTimeout(this.#initTimer);
    clearInterval(this.#flushTimer);
    this.#settle();
    void this.#worker.terminate();
    this.#log.warn(
      started
        ? "W&B logging stopped; the metrics are still recorded for /metrics"
        : "W&B run could not start; nothing goes to W&B, the metrics are still recorded for /metrics",
      { reason, ...(this.#clientSaid ? { client: this.#clientSaid } : {}) },
    );
  }
}
