import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import path from "node:path";
import { type BasicLogger, silentLogger } from "@grail/log";
import { isRecord } from "../batching.js";
import { NativeGenerator } from "./engine.js";
import { type LogitsModel, loadLogitsModel } from "./logits-model.js";
import {
  buildRequest,
  finishReason,
  int,
  num,
  RequestError,
  readJson,
  SGLANG_SAMPLING_KEYS,
  send,
  tokenLists,
} from "./request.js";
import { SeededRandom } from "./sampler.js";

export interface NativeServerOptions {
  modelPath: string;
  servedModelName?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  contextLength: number;
  maxRunningRequests?: number;
  /** Seeds requests that carry no sampling_seed (SGLang --random-seed). */
  randomSeed?: number;
  /** Loads a model directory; defaults to loadLogitsModel (bigram or @grail/engine-native). */
  loadModel?: (dir: string) => Promise<LogitsModel>;
  logger?: BasicLogger;
  /** The devices this server was started on (its CUDA_VISIBLE_DEVICES), for /get_server_info. */
  cudaVisibleDevices?: string | null;
}

/**
 * An HTTP generation server with SGLang's native API (`/generate`, `/update_weights_from_disk`,
 * `/get_model_info`, `/flush_cache`, `/health`, `/v1/models`) and the vLLM endpoints the miner uses
 * (`/v1/completions` with token-id prompts, `/sleep`, `/wake_up`, `/collective_rpc` reload_weights,
 * `/reset_prefix_cache`), served by a LogitsModel with sampling in TypeScript. Tests and the local
 * network run the real clients and launcher against it.
 */
export class NativeGenerationServer {
  private readonly http: Server;
  private readonly generator: NativeGenerator;
  private readonly logger: BasicLogger;
  private readonly seeds: SeededRandom;
  private readonly loadModel: (dir: string) => Promise<LogitsModel>;
  private modelPath: string;
  private weightVersion = "default";
  private sleeping = false;
  private boundPort = 0;

  private constructor(
    private readonly options: NativeServerOptions,
    model: LogitsModel,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.modelPath = options.modelPath;
    this.loadModel = options.loadModel ?? ((dir) => loadLogitsModel(dir));
    this.generator = new NativeGenerator(model, options.maxRunningRequests ?? 256);
    this.seeds = new SeededRandom(options.randomSeed ?? 0);
    this.http = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        const status = error instanceof RequestError ? error.status : 500;
        if (status === 500) this.logger.error(`request failed: ${(error as Error).stack ?? String(error)}`);
        if (!res.headersSent) send(res, status, { error: { message: (error as Error).message } });
        else res.end();
      });
    });
    this.http.keepAliveTimeout = 5_000;
  }

  static async start(options: NativeServerOptions): Promise<NativeGenerationServer> {
    const load = options.loadModel ?? ((dir: string) => loadLogitsModel(dir));
    const model = await load(options.modelPath);
    const server = new NativeGenerationServer(options, model);
    await new Promise<void>((resolve, reject) => {
      server.http.once("error", reject);
      server.http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
    });
    const address = server.http.address();
    server.boundPort = typeof address === "object" && address ? address.port : 0;
    server.logger.info(`serving ${options.modelPath} on ${server.url}`);
    return server;
  }

  get url(): string {
    const host = this.options.host ?? "127.0.0.1";
    return `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${this.boundPort}`;
  }

  get servedModelName(): string {
    return this.options.servedModelName ?? path.basename(this.options.modelPath);
  }

  get currentModelPath(): string {
    return this.modelPath;
  }

  async close(): Promise<void> {
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.generator.setModel(null);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const key = `${req.method} ${url.pathname}`;
    switch (key) {
      case "GET /health":
      case "GET /ping":
        return send(res, 200, undefined);
      case "GET /health_generate":
        return this.healthGenerate(res);
      case "GET /v1/models":
        return send(res, 200, {
          object: "list",
          data: [
            {
              id: this.servedModelName,
              object: "model",
              created: 0,
              owned_by: "grail",
              root: this.servedModelName,
              max_model_len: this.options.contextLength,
            },
          ],
        });
      case "GET /get_model_info":
        return send(res, 200, {
          model_path: this.modelPath,
          tokenizer_path: null,
          is_generation: true,
          weight_version: this.weightVersion,
        });
      case "GET /get_server_info":
        return send(res, 200, {
          model_path: this.modelPath,
          served_model_name: this.servedModelName,
          context_length: this.options.contextLength,
          max_running_requests: this.options.maxRunningRequests ?? 256,
          cuda_visible_devices: this.options.cudaVisibleDevices ?? null,
          pid: process.pid,
          version: "grail-native",
        });
      case "POST /generate":
      case "PUT /generate":
        return send(res, 200, await this.generate(await readJson(req)));
      case "POST /update_weights_from_disk":
        return this.updateWeightsFromDisk(await readJson(req), res);
      case "GET /flush_cache":
      case "POST /flush_cache":
      case "POST /reset_prefix_cache":
        return send(res, 200, undefined);
      case "POST /v1/completions":
        return send(res, 200, await this.completions(await readJson(req)));
      case "POST /sleep":
        return this.sleep(Number(url.searchParams.get("level") ?? "1"), res);
      case "POST /wake_up":
        this.sleeping = false;
        return send(res, 200, undefined);
      case "GET /is_sleeping":
        return send(res, 200, { is_sleeping: this.sleeping });
      case "POST /collective_rpc":
        return this.collectiveRpc(await readJson(req), res);
      default:
        throw new RequestError(404, `no route ${key}`);
    }
  }

  private async healthGenerate(res: ServerResponse): Promise<void> {
    const model = this.generator.model;
    if (!model || this.sleeping) return send(res, 503, undefined);
    const result = await this.generator.submit({
      inputIds: [0],
      maxNewTokens: 1,
      params: { temperature: 0, topP: 1, topK: -1, repetitionPenalty: 1 },
      stopTokenIds: new Set(),
      seed: 0,
    });
    return send(res, result.finishReason.type === "abort" ? 503 : 200, undefined);
  }

  private ensureServing(): LogitsModel {
    if (this.sleeping) throw new RequestError(503, "server is sleeping; POST /wake_up first");
    const model = this.generator.model;
    if (!model) {
      throw new RequestError(
        503,
        "weights were dropped (sleep level 2); POST /collective_rpc reload_weights first",
      );
    }
    return model;
  }

  private async generate(body: unknown): Promise<unknown> {
    if (!isRecord(body)) throw new RequestError(400, "request body must be a JSON object");
    if (body.text !== undefined && body.input_ids === undefined) {
      throw new RequestError(400, "this server has no tokenizer: send input_ids, not text");
    }
    if (body.stream === true) throw new RequestError(400, "streaming is not supported by this server");
    if (body.return_logprob === true)
      throw new RequestError(400, "return_logprob is not supported by this server");
    const model = this.ensureServing();
    const { lists, single } = tokenLists(body.input_ids, "input_ids");
    const sp = body.sampling_params ?? {};
    const perPrompt = Array.isArray(sp) ? sp : lists.map(() => sp);
    if (perPrompt.length !== lists.length) {
      throw new RequestError(400, "sampling_params list must have one entry per prompt");
    }
    const requests = lists.map((ids, i) => {
      const s = perPrompt[i];
      if (!isRecord(s)) throw new RequestError(400, "sampling_params must be an object");
      const unknown = Object.keys(s).filter((k) => !SGLANG_SAMPLING_KEYS.has(k));
      if (unknown.length > 0) {
        throw new RequestError(
          400,
          `SamplingParams got unexpected keyword argument(s): ${unknown.join(", ")}`,
        );
      }
      const stopIds = s.stop_token_ids ?? [];
      if (!Array.isArray(stopIds) || !stopIds.every((t) => Number.isInteger(t))) {
        throw new RequestError(400, "stop_token_ids must be a list of integers");
      }
      return buildRequest(
        ids,
        {
          maxNewTokens: int(s.max_new_tokens, "max_new_tokens", 128),
          temperature: num(s.temperature, "temperature", 1),
          topP: num(s.top_p, "top_p", 1),
          topK: int(s.top_k, "top_k", -1),
          repetitionPenalty: num(s.repetition_penalty, "repetition_penalty", 1),
          stopTokenIds: stopIds as number[],
          ignoreEos: s.ignore_eos === true,
          seed:
            s.sampling_seed === undefined || s.sampling_seed === null
              ? null
              : int(s.sampling_seed, "sampling_seed", 0),
        },
        model,
        this.options.contextLength,
        this.seeds,
      );
    });
    const started = Date.now();
    const results = await Promise.all(requests.map((r) => this.generator.submit(r)));
    const outputs = results.map((r, i) => ({
      output_ids: r.outputIds,
      meta_info: {
        id: randomUUID().replaceAll("-", ""),
        finish_reason: finishReason(r.finishReason),
        prompt_tokens: lists[i]!.length,
        completion_tokens: r.outputIds.length,
        cached_tokens: 0,
        weight_version: this.weightVersion,
        e2e_latency: (Date.now() - started) / 1000,
      },
    }));
    return single ? outputs[0] : outputs;
  }

  private async completions(body: unknown): Promise<unknown> {
    if (!isRecord(body)) throw new RequestError(400, "request body must be a JSON object");
    if (body.model !== undefined && body.model !== this.servedModelName) {
      throw new RequestError(404, `The model \`${String(body.model)}\` does not exist.`);
    }
    if (
      typeof body.prompt === "string" ||
      (Array.isArray(body.prompt) && typeof body.prompt[0] === "string")
    ) {
      throw new RequestError(400, "this server has no tokenizer: send the prompt as token ids");
    }
    if (body.n !== undefined && body.n !== 1) throw new RequestError(400, "only n=1 is supported");
    const model = this.ensureServing();
    const { lists } = tokenLists(body.prompt, "prompt");
    const seed = body.seed === undefined || body.seed === null ? null : int(body.seed, "seed", 0);
    const requests = lists.map((ids) =>
      buildRequest(
        ids,
        {
          maxNewTokens: int(body.max_tokens, "max_tokens", 16),
          temperature: num(body.temperature, "temperature", 1),
          topP: num(body.top_p, "top_p", 1),
          topK: int(body.top_k, "top_k", -1),
          repetitionPenalty: num(body.repetition_penalty, "repetition_penalty", 1),
          stopTokenIds: Array.isArray(body.stop_token_ids) ? (body.stop_token_ids as number[]) : [],
          ignoreEos: body.ignore_eos === true,
          seed,
        },
        model,
        this.options.contextLength,
        this.seeds,
      ),
    );
    const results = await Promise.all(requests.map((r) => this.generator.submit(r)));
    const eos = model.info.eosTokenId;
    const aborted = results.find((r) => r.finishReason.type === "abort");
    if (aborted && aborted.finishReason.type === "abort")
      throw new RequestError(500, aborted.finishReason.message);
    let completionTokens = 0;
    const choices = results.map((r, index) => {
      completionTokens += r.outputIds.length;
      const f = r.finishReason;
      const choice: Record<string, unknown> = {
        index,
        text: "",
        logprobs: null,
        finish_reason: f.type === "stop" ? "stop" : "length",
        // vLLM reports stop_reason only for explicit stop ids, not for the model's EOS.
        stop_reason: f.type === "stop" && f.matched !== eos ? f.matched : null,
      };
      if (body.return_token_ids === true) {
        choice.token_ids = r.outputIds;
        choice.prompt_token_ids = lists[index];
      }
      return choice;
    });
    const promptTokens = lists.reduce((a, l) => a + l.length, 0);
    return {
      id: `cmpl-${randomUUID().replaceAll("-", "")}`,
      object: "text_completion",
      created: Math.floor(Date.now() / 1000),
      model: this.servedModelName,
      choices,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  }

  private async updateWeightsFromDisk(body: unknown, res: ServerResponse): Promise<void> {
    if (!isRecord(body) || typeof body.model_path !== "string" || body.model_path === "") {
      throw new RequestError(400, "model_path is required");
    }
    const target = body.model_path;
    const version = typeof body.weight_version === "string" ? body.weight_version : null;
    try {
      await this.generator.exclusive(async () => {
        const model = await this.loadModel(target);
        this.generator.setModel(model);
        this.modelPath = target;
        if (version !== null) this.weightVersion = version;
      });
    } catch (error) {
      this.logger.warn(`update_weights_from_disk(${target}) failed: ${(error as Error).message}`);
      return send(res, 400, {
        success: false,
        message: `Failed to update weights: ${(error as Error).message}. Rolling back to the previous weights.`,
        num_paused_requests: 0,
      });
    }
    this.logger.info(`weights updated from ${target}`);
    return send(res, 200, {
      success: true,
      message: `Succeeded to update model weights.${version !== null ? ` Weight version updated to ${version}.` : ""}`,
      num_paused_requests: 0,
    });
  }

  private async sleep(level: number, res: ServerResponse): Promise<void> {
    if (level !== 1 && level !== 2) throw new RequestError(400, "level must be 1 or 2");
    await this.generator.exclusive(async () => {
      this.sleeping = true;
      if (level === 2) this.generator.setModel(null);
    });
    return send(res, 200, undefined);
  }

  private async collectiveRpc(body: unknown, res: ServerResponse): Promise<void> {
    if (!isRecord(body) || body.method !== "reload_weights") {
      throw new RequestError(400, "only method=reload_weights is supported");
    }
    if (this.sleeping) throw new RequestError(400, "server is sleeping; POST /wake_up first");
    // Re-reads the launch path, which for vLLM is the symlink that weight sync re-points.
    await this.generator.exclusive(async () => {
      this.generator.setModel(await this.loadModel(this.options.modelPath));
    });
    return send(res, 200, { results: [null] });
  }
}
