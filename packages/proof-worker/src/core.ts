import {
  type EngineKind,
  errorReply,
  type HelloMessage,
  IPC_PROTOCOL_VERSION,
  type LoadRequest,
  type ProveRequest,
  type ReloadRequest,
  type StatusReply,
  type WorkerReply,
  type WorkerRequest,
  type WorkerState,
} from "@grail/ipc";
import type { Logger } from "@grail/log";
import {
  type EngineLoadOptions,
  type EngineModel,
  engineCodeOf,
  loadNativeModel,
  type ModelLoader,
} from "./engine.js";
import { proveBatch } from "./prove-batch.js";

export interface WorkerCoreOptions {
  engine?: EngineKind;
  loader?: ModelLoader;
  logger: Logger;
  /** e.g. "node v20.19.0"; default from the running process. */
  runtime?: string;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The worker's behaviour independent of its transport (pipes in a child process, or a worker
 * thread): one model, loaded once and reloaded in place, proving tagged batches. Load, reload and
 * prove run one after another in arrival order, so a reload waits for the proofs queued before it;
 * health and shutdown are answered at once. handle() never throws: every failure is an error reply.
 */
export class WorkerCore {
  private readonly engine: EngineKind;
  private readonly loader: ModelLoader;
  private readonly logger: Logger;
  private readonly runtime: string;
  private readonly started = performance.now();
  private model: EngineModel | null = null;
  private loadOptions: EngineLoadOptions = {};
  private state: WorkerState = "empty";
  private checkpointWindow: number | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private running = 0;
  private waiting = 0;
  private jobsDone = 0;
  private closing = false;

  constructor(options: WorkerCoreOptions) {
    this.engine = options.engine ?? "native";
    this.loader = options.loader ?? loadNativeModel;
    this.logger = options.logger;
    this.runtime = options.runtime ?? `node ${process.version}`;
  }

  hello(): HelloMessage {
    return {
      type: "hello",
      protocolVersion: IPC_PROTOCOL_VERSION,
      engine: this.engine,
      pid: process.pid,
      runtime: this.runtime,
    };
  }

  status(id: number): StatusReply {
    return {
      type: "status",
      id,
      state: this.state,
      checkpointWindow: this.checkpointWindow,
      modelDir: this.model?.modelDir ?? null,
      busy: this.running > 0,
      queued: this.waiting,
      jobsDone: this.jobsDone,
      uptimeMs: performance.now() - this.started,
      rssBytes: process.memoryUsage.rss(),
    };
  }

  handle(req: WorkerRequest): Promise<WorkerReply> {
    if (req.type === "health") return Promise.resolve(this.status(req.id));
    if (this.closing) {
      return Promise.resolve(errorReply(req.id, "shutting_down", "the worker is shutting down"));
    }
    if (req.type === "shutdown") {
      this.closing = true;
      return Promise.resolve({ type: "bye", id: req.id });
    }
    return this.serial(() => {
      switch (req.type) {
        case "load":
          return this.load(req);
        case "reload":
          return this.reload(req);
        case "prove":
          return this.prove(req);
      }
    });
  }

  /** Releases the model once the running operation is done. */
  async close(): Promise<void> {
    this.closing = true;
    await this.tail;
    this.model?.close();
    this.model = null;
  }

  private serial(fn: () => Promise<WorkerReply>): Promise<WorkerReply> {
    this.waiting++;
    const run = async (): Promise<WorkerReply> => {
      this.waiting--;
      this.running++;
      try {
        return await fn();
      } catch (err) {
        this.logger.error("unexpected worker failure", { error: message(err) });
        return errorReply(null, "internal", message(err));
      } finally {
        this.running--;
      }
    };
    const next = this.tail.then(run, run);
    this.tail = next;
    return next;
  }

  private async load(req: LoadRequest): Promise<WorkerReply> {
    if (req.protocolVersion !== IPC_PROTOCOL_VERSION) {
      return errorReply(
        req.id,
        "unsupported_version",
        `the parent speaks protocol ${req.protocolVersion}, this worker ${IPC_PROTOCOL_VERSION}; rebuild both from the same tree`,
        { parent: req.protocolVersion, worker: IPC_PROTOCOL_VERSION },
      );
    }
    const t0 = performance.now();
    this.model?.close();
    this.model = null;
    this.checkpointWindow = null;
    this.state = "loading";
    this.loadOptions = {
      backend: req.backend as "cpu" | "cuda" | undefined,
      device: req.device,
      threads: req.threads,
      options: req.options,
    };
    try {
      this.model = await this.loader(req.modelDir, this.loadOptions);
    } catch (err) {
      this.state = "failed";
      this.logger.error("model load failed", { modelDir: req.modelDir, error: message(err) });
      return errorReply(req.id, "load_failed", message(err), {
        engineCode: engineCodeOf(err),
        modelDir: req.modelDir,
      });
    }
    this.state = "ready";
    this.checkpointWindow = req.checkpointWindow;
    const elapsedMs = performance.now() - t0;
    this.logger.info("model loaded", {
      modelDir: req.modelDir,
      checkpointWindow: req.checkpointWindow,
      device: this.model.device,
      elapsedMs: Math.round(elapsedMs),
    });
    return {
      type: "loaded",
      id: req.id,
      checkpointWindow: req.checkpointWindow,
      modelDir: req.modelDir,
      backend: this.model.backend,
      device: this.model.device,
      model: this.model.summary,
      elapsedMs,
    };
  }

  private async reload(req: ReloadRequest): Promise<WorkerReply> {
    const model = this.model;
    if (!model) {
      return errorReply(req.id, "not_loaded", "reload before any successful load; send load first");
    }
    const t0 = performance.now();
    this.state = "loading";
    // Until the new weights are complete, no proof may be tagged with either checkpoint.
    this.checkpointWindow = null;
    try {
      try {
        await model.reload(req.modelDir);
      } catch (err) {
        // A new architecture (the trainer switched base models) cannot reuse the buffers; the
        // engine refuses before touching the weights, so load it as a new model in this process.
        if (engineCodeOf(err) !== "architecture_changed") throw err;
        this.logger.notice("checkpoint has a new architecture; loading it as a new model", {
          modelDir: req.modelDir,
        });
        model.close();
        this.model = null;
        this.model = await this.loader(req.modelDir, this.loadOptions);
      }
    } catch (err) {
      this.state = "failed";
      this.logger.error("reload failed", { modelDir: req.modelDir, error: message(err) });
      return errorReply(req.id, "reload_failed", message(err), {
        engineCode: engineCodeOf(err),
        modelDir: req.modelDir,
      });
    }
    this.state = "ready";
    this.checkpointWindow = req.checkpointWindow;
    const elapsedMs = performance.now() - t0;
    this.logger.info("weights reloaded in place", {
      modelDir: req.modelDir,
      checkpointWindow: req.checkpointWindow,
      elapsedMs: Math.round(elapsedMs),
    });
    return {
      type: "reloaded",
      id: req.id,
      checkpointWindow: req.checkpointWindow,
      modelDir: req.modelDir,
      elapsedMs,
    };
  }

  private async prove(req: ProveRequest): Promise<WorkerReply> {
    const model = this.model;
    if (!model || this.state !== "ready" || this.checkpointWindow === null) {
      return errorReply(req.id, "not_loaded", `no model is ready (state ${this.state}); send load first`);
    }
    if (req.checkpointWindow !== this.checkpointWindow) {
      return errorReply(
        req.id,
        "stale_checkpoint",
        `the batch is for checkpoint ${req.checkpointWindow}, this worker holds ${this.checkpointWindow}`,
        { requested: req.checkpointWindow, loaded: this.checkpointWindow },
      );
    }
    try {
      const reply = await proveBatch(model, req, this.checkpointWindow);
      this.jobsDone++;
      this.logger.debug("batch proved", {
        id: req.id,
        rollouts: req.lengths.length,
        tokens: req.tokens.length,
        proveMs: Math.round(reply.proveMs),
      });
      return reply;
    } catch (err) {
      this.logger.warn("batch failed", { id: req.id, error: message(err) });
      return errorReply(req.id, "prove_failed", message(err), { engineCode: engineCodeOf(err) });
    }
  }
}
