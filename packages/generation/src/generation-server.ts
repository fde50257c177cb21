import { mkdir } from "node:fs/promises";
import path from "node:path";
import { type BasicLogger, silentLogger } from "@grail/log";
import { isRecord, type RequestRetryPolicy } from "./batching.js";
import { GenerationConfigError, StaleWeightsError, WeightSyncError } from "./errors.js";
import { ReadWriteGate } from "./gate.js";
import { httpJson, httpText } from "./http.js";
import type { ServerLaunchOptions } from "./launch-options.js";
import { SglangClient } from "./sglang/client.js";
import { sglangLaunchSpec } from "./sglang/launch.js";
import { ProcessSupervisor, type SupervisorOptions } from "./supervisor.js";
import type { Completion, GenerationClient, SamplingPolicy } from "./types.js";
import { VllmClient } from "./vllm/client.js";
import { VLLM_SERVED_MODEL_NAME, vllmLaunchSpec, vllmTokenizerFor } from "./vllm/launch.js";
import { repointSymlink, sglangUpdateWeightsFromDisk, vllmReloadWeights } from "./weight-sync.js";

export type GenerationBackend = "sglang" | "vllm";

export interface GenerationServerOptions {
  backend: GenerationBackend;
  launch: ServerLaunchOptions;
  client: {
    promptsPerRequest: number;
    maxConcurrentRequests: number;
    requestTimeoutMs?: number;
    retry?: RequestRetryPolicy;
  };
  /** vLLM: where the `vllm_active` symlink lives (GRAIL_PIPELINE_SYMLINK_DIR); default the checkpoint's parent. */
  symlinkDir?: string | null;
  /**
   * vLLM --tokenizer when the checkpoint's metadata names no Hub repository (the reference's
   * GRAIL_TRAIN_MODEL_ID, which the miner does not pass: vLLM then uses the checkpoint's own);
   * see vllmTokenizerFor.
   */
  tokenizer?: string | null;
  /** SGLang: one timeout for update_weights_from_disk (default 300 s); vLLM: per reload call (default 60 s). */
  weightSyncTimeoutMs?: number;
  /** Supervisor tuning (restart backoff, health polling). */
  supervisor?: Partial<Omit<SupervisorOptions, "name" | "spec" | "logger">>;
  logger?: BasicLogger;
}

export interface WeightSyncOutcome {
  checkpoint: string;
  method: "in-place" | "restart";
  durationMs: number;
  /** Why the in-place reload was abandoned, when a restart was needed. */
  inPlaceError?: string;
}

export interface GenerateOptions {
  /**
   * The checkpoint the proofs will use. Generation refuses (StaleWeightsError) unless the server holds
   * exactly these weights, so completions are never sampled from a model other than the proven one.
   */
  expectCheckpoint?: string;
}

/**
 * A supervised SGLang or vLLM server with its client and weight sync: the one object the miner holds
 * for generation. `loadedCheckpoint` is the directory whose weights the server is known to serve;
 * it is null while a sync is under way or after a failed one.
 */
export class GenerationServer {
  private readonly supervisor: ProcessSupervisor;
  private readonly gate = new ReadWriteGate();
  private readonly logger: BasicLogger;
  private client: GenerationClient | null = null;
  private modelPath: string;
  private loaded: string | null = null;
  private servedName: string | null = null;
  /** True while syncWeights runs: its own restart must not touch `loaded`. */
  private syncing = false;

  private constructor(
    private readonly options: GenerationServerOptions,
    initialModelPath: string,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.modelPath = path.resolve(initialModelPath);
    this.supervisor = new ProcessSupervisor({
      healthPaths: ["/v1/models", "/health"],
      ...(options.launch.startupTimeoutMs !== undefined
        ? { startupTimeoutMs: options.launch.startupTimeoutMs }
        : {}),
      ...options.supervisor,
      name: options.backend,
      logger: this.logger,
      spec: () => this.launchSpec(),
      warmUp: (baseUrl) => this.warmUp(baseUrl),
    });
    this.supervisor.on("ready", () => {
      // Every start loads the current model path, so after a crash restart that is what is served.
      if (!this.syncing) this.loaded = this.modelPath;
    });
    this.supervisor.on("restarting", () => {
      if (!this.syncing) this.loaded = null;
    });
  }

  /** Launches the server on `modelPath` and waits until it is healthy and warmed up. */
  static async start(modelPath: string, options: GenerationServerOptions): Promise<GenerationServer> {
    if (options.backend !== "sglang" && options.backend !== "vllm") {
      throw new GenerationConfigError(
        `GRAIL_PIPELINE_BACKEND must be sglang or vllm, got ${String(options.backend)}`,
        {
          backend: options.backend,
        },
      );
    }
    const server = new GenerationServer(options, modelPath);
    if (options.backend === "vllm") await server.pointSymlink(server.modelPath);
    await server.supervisor.start();
    await server.afterStart();
    return server;
  }

  get backend(): GenerationBackend {
    return this.options.backend;
  }

  get loadedCheckpoint(): string | null {
    return this.loaded;
  }

  get baseUrl(): string {
    return this.supervisor.baseUrl;
  }

  get pid(): number | null {
    return this.supervisor.pid;
  }

  get process(): ProcessSupervisor {
    return this.supervisor;
  }

  /** The model name the server reports on /v1/models. */
  get servedModelName(): string | null {
    return this.servedName;
  }

  /** vLLM's stable model path. */
  get symlinkPath(): string {
    const dir = this.options.symlinkDir || path.dirname(this.modelPath);
    return path.join(dir, VLLM_SERVED_MODEL_NAME);
  }

  async generate(
    prompts: readonly (readonly number[])[],
    policy: SamplingPolicy,
    options: GenerateOptions = {},
  ): Promise<Completion[]> {
    return this.gate.shared(async () => {
      const expected =
        options.expectCheckpoint === undefined ? undefined : path.resolve(options.expectCheckpoint);
      if (expected !== undefined && this.loaded !== expected) {
        throw new StaleWeightsError(
          `generation server holds ${this.loaded ?? "no confirmed checkpoint"} but proofs use ${expected}; sync weights before generating`,
          { loaded: this.loaded, expected },
        );
      }
      if (!this.client) throw new StaleWeightsError("generation server has no client yet", {});
      return this.client.generate(prompts, policy);
    });
  }

  /**
   * Loads `checkpointDir` without restarting (SGLang update_weights_from_disk; vLLM symlink +
   * sleep/wake/reload). Waits for running generation first and holds new calls until done. When the
   * in-place reload fails the server is restarted on the new checkpoint; when that fails too,
   * WeightSyncError is thrown and `loadedCheckpoint` stays null, so generation refuses to run.
   */
  async syncWeights(checkpointDir: string): Promise<WeightSyncOutcome> {
    const target = path.resolve(checkpointDir);
    return this.gate.exclusive(async () => {
      const started = Date.now();
      this.syncing = true;
      this.loaded = null;
      try {
        try {
          await this.supervisor.whenReady();
          await this.reloadInPlace(target);
          this.modelPath = target;
          this.loaded = target;
          this.logger.info(`[${this.backend}] weights synced in place`, {
            checkpoint: target,
            ms: Date.now() - started,
          });
          return { checkpoint: target, method: "in-place" as const, durationMs: Date.now() - started };
        } catch (error) {
          const reason = (error as Error).message;
          this.logger.warn(
            `[${this.backend}] in-place weight sync failed (${reason}); restarting on the new checkpoint`,
          );
          this.modelPath = target;
          try {
            if (this.backend === "vllm") await this.pointSymlink(target);
            await this.supervisor.restart(`weight sync to ${target} failed in place`);
            await this.afterStart();
          } catch (restartError) {
            throw new WeightSyncError(
              `could not load ${target}: in-place reload failed (${reason}) and the restart failed (${(restartError as Error).message}); generation is disabled until a sync succeeds`,
              { checkpoint: target },
              { cause: restartError },
            );
          }
          this.loaded = target;
          return {
            checkpoint: target,
            method: "restart" as const,
            durationMs: Date.now() - started,
            inPlaceError: reason,
          };
        }
      } finally {
        this.syncing = false;
      }
    });
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
    this.loaded = null;
    this.client = null;
  }

  private async reloadInPlace(target: string): Promise<void> {
    const base = this.supervisor.baseUrl;
    if (this.backend === "sglang") {
      await sglangUpdateWeightsFromDisk(base, target, {
        timeoutMs: this.options.weightSyncTimeoutMs ?? 300_000,
        weightVersion: path.basename(target),
      });
    } else {
      await this.pointSymlink(target);
      await vllmReloadWeights(base, { timeoutMs: this.options.weightSyncTimeoutMs ?? 60_000 });
    }
  }

  private async pointSymlink(target: string): Promise<void> {
    await mkdir(path.dirname(this.symlinkPath), { recursive: true });
    await repointSymlink(this.symlinkPath, target);
  }

  private async launchSpec() {
    if (this.backend === "sglang") return sglangLaunchSpec(this.modelPath, this.options.launch);
    const tokenizer = await vllmTokenizerFor(this.modelPath, this.options.tokenizer ?? null);
    return vllmLaunchSpec(this.symlinkPath, this.options.launch, tokenizer);
  }

  private async warmUp(baseUrl: string): Promise<void> {
    // Token ids, not text: no tokenizer round trip, and the native server accepts it too.
    if (this.backend === "sglang") {
      await httpText(
        "POST",
        `${baseUrl}/generate`,
        { input_ids: [1, 2, 3], sampling_params: { max_new_tokens: 1, temperature: 0 } },
        { timeoutMs: 30_000 },
      );
    } else {
      await httpText(
        "POST",
        `${baseUrl}/v1/completions`,
        { model: VLLM_SERVED_MODEL_NAME, prompt: [1, 2, 3], max_tokens: 1 },
        { timeoutMs: 30_000 },
      );
    }
  }

  private async afterStart(): Promise<void> {
    const models = await httpJson("GET", `${this.supervisor.baseUrl}/v1/models`, undefined, {
      timeoutMs: 10_000,
    }).catch(() => null);
    const first = isRecord(models) && Array.isArray(models.data) ? models.data[0] : undefined;
    this.servedName = isRecord(first) && typeof first.id === "string" ? first.id : null;
    const common = {
      baseUrl: () => this.supervisor.baseUrl,
      maxModelLen: this.options.launch.contextLength,
      maxConcurrentRequests: this.options.client.maxConcurrentRequests,
      beforeAttempt: () => this.supervisor.whenReady(),
      logger: this.logger,
      ...(this.options.client.requestTimeoutMs !== undefined
        ? { requestTimeoutMs: this.options.client.requestTimeoutMs }
        : {}),
      ...(this.options.client.retry ? { retry: this.options.client.retry } : {}),
    };
    this.client =
      this.backend === "sglang"
        ? new SglangClient({ ...common, promptsPerRequest: this.options.client.promptsPerRequest })
        : new VllmClient({
            ...common,
            model: this.servedName ?? VLLM_SERVED_MODEL_NAME,
            promptsPerRequest: this.options.client.promptsPerRequest,
          });
    this.loaded = this.modelPath;
  }
}
