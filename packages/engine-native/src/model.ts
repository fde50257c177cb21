import { generateRVec } from "@grail/protocol";
import { type Backend, resolveBackend } from "./backends.js";
import { type ModelInfo, type ParsedConfig, readModelConfig } from "./config.js";
import { EngineError, fromNativeError } from "./errors.js";
import { cudaLibraryPath, loadAddon, type NativeModelHandle } from "./native.js";
import { type EngineProfile, parseProfile } from "./profile.js";
import { planWeights } from "./weights.js";

export interface RolloutInput {
  tokens: Int32Array | readonly number[];
  promptLen: number;
}

export interface RolloutProof {
  /** One sketch per position (prompt and completion), in [0, PRIME_Q). */
  sVals: Uint32Array;
  /** One logprob per completion token: log_softmax(logits[p-1])[tokens[p]] in fp32. */
  logprobs: Float32Array;
  /** softmax(logits[len-2])[eos]; NaN when the model has no EOS token. */
  eosProb: number;
}

/** Switches of prove() calls; both change only what the CUDA backend does, never a result. */
export interface ProveOptions {
  /** Time every kernel family for lastProfile() (GRAIL_ENGINE_PROFILE); costs speed. Default false. */
  profile?: boolean;
  /** Compute a group's shared prompt once rather than per rollout (GRAIL_ENGINE_SHARE_PROMPTS). Default true. */
  sharePrompts?: boolean;
}

/** `profile` and `sharePrompts` are the defaults of every prove() of the model. */
export interface LoadOptions extends ProveOptions {
  /** Default: cuda if available, else cpu. */
  backend?: Backend;
  /** CUDA device index relative to CUDA_VISIBLE_DEVICES; default 0. */
  device?: number;
  /** CPU backend worker threads; default: all cores. */
  threads?: number;
}

export interface ProofModel {
  readonly info: ModelInfo;
  readonly backend: Backend;
  readonly modelDir: string;
  prove(
    batch: readonly RolloutInput[],
    randomnessHex: string,
    options?: ProveOptions,
  ): Promise<RolloutProof[]>;
  lastLogits(sequences: readonly (Int32Array | readonly number[])[]): Promise<Float32Array[]>;
  reload(modelDir: string): Promise<void>;
  close(): void;
}

/** Diagnostics beyond the proof API, used by tests and the accuracy tools. */
export interface ProofModelDiagnostics {
  /** Committed hidden states (after the final norm) of one sequence, [len × hiddenSize]. */
  hiddenStates(tokens: Int32Array | readonly number[]): Promise<Float32Array>;
  /** Bytes of weight storage and how many times it was (re)allocated. */
  weightStats(): { weightBytes: number; weightAllocations: number };
  /**
   * Per-stage GPU times of the last prove() (it waits for calls still queued), when that call ran on
   * the CUDA backend with `profile` on; null otherwise. Profiling changes no result.
   */
  lastProfile(): Promise<EngineProfile | null>;
}

const HEX_RE = /^\s*(0[xX])?[0-9a-fA-F]+\s*$/;

/** The switches of a call: `options` over `defaults`, each checked to be a boolean. */
function proveSwitches(options: ProveOptions, defaults: Required<ProveOptions>): Required<ProveOptions> {
  const out = { ...defaults };
  for (const key of ["profile", "sharePrompts"] as const) {
    const value: unknown = options[key];
    if (value === undefined) continue;
    if (typeof value !== "boolean") {
      throw new EngineError("invalid_input", `${key} must be true or false, got ${JSON.stringify(value)}`, {
        [key]: value,
      });
    }
    out[key] = value;
  }
  return out;
}

function sameArchitecture(a: ParsedConfig, b: ParsedConfig): boolean {
  const x = a.native;
  const y = b.native;
  return (
    x.modelType === y.modelType &&
    x.hidden === y.hidden &&
    x.intermediate === y.intermediate &&
    x.layers === y.layers &&
    x.heads === y.heads &&
    x.kvHeads === y.kvHeads &&
    x.headDim === y.headDim &&
    x.vocab === y.vocab &&
    x.eps === y.eps &&
    JSON.stringify(x.rope) === JSON.stringify(y.rope) &&
    a.tieWordEmbeddings === b.tieWordEmbeddings
  );
}

class NativeProofModel implements ProofModel, ProofModelDiagnostics {
  readonly backend: Backend;
  private config: ParsedConfig;
  private dir: string;
  private readonly handle: NativeModelHandle;
  // Calls run one after another: the native side owns one set of activation buffers per model.
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    dir: string,
    config: ParsedConfig,
    backend: Backend,
    handle: NativeModelHandle,
    private readonly switches: Required<ProveOptions>,
  ) {
    this.dir = dir;
    this.config = config;
    this.backend = backend;
    this.handle = handle;
  }

  get info(): ModelInfo {
    return this.config.info;
  }

  get modelDir(): string {
    return this.dir;
  }

  private run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) {
      return Promise.reject(new EngineError("closed", `cannot ${what}: the model was closed`));
    }
    const next = this.tail.then(fn, fn).catch((err: unknown) => {
      throw fromNativeError(err, { operation: what, modelDir: this.dir });
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  private pack(sequences: readonly (Int32Array | readonly number[])[], what: string) {
    const vocab = this.config.info.vocabSize;
    let total = 0;
    for (const s of sequences) total += s.length;
    const tokens = new Int32Array(total);
    const offsets = new Float64Array(sequences.length + 1);
    let at = 0;
    sequences.forEach((s, i) => {
      if (s.length === 0)
        throw new EngineError("invalid_input", `${what}: sequence ${i} is empty`, { index: i });
      for (let j = 0; j < s.length; j++) {
        const t = s[j]!;
        if (!Number.isInteger(t) || t < 0 || t >= vocab) {
          throw new EngineError(
            "invalid_input",
            `${what}: sequence ${i} has token ${t} at position ${j}, outside the vocabulary [0, ${vocab})`,
            { index: i, position: j, token: t },
          );
        }
        tokens[at + j] = t;
      }
      at += s.length;
      offsets[i + 1] = at;
    });
    return { tokens, offsets };
  }

  async prove(
    batch: readonly RolloutInput[],
    randomnessHex: string,
    options: ProveOptions = {},
  ): Promise<RolloutProof[]> {
    const { profile, sharePrompts } = proveSwitches(options, this.switches);
    if (batch.length === 0) return [];
    if (typeof randomnessHex !== "string" || !HEX_RE.test(randomnessHex)) {
      throw new EngineError(
        "invalid_input",
        `randomness must be a hex string, got ${JSON.stringify(randomnessHex)}`,
      );
    }
    batch.forEach((r, i) => {
      if (!Number.isInteger(r.promptLen) || r.promptLen < 1 || r.promptLen > r.tokens.length) {
        throw new EngineError(
          "invalid_input",
          `rollout ${i}: promptLen ${r.promptLen} must be an integer in [1, ${r.tokens.length}]`,
          { index: i },
        );
      }
      if (r.tokens.length < 2) {
        throw new EngineError("invalid_input", `rollout ${i}: a rollout needs at least 2 tokens`, {
          index: i,
        });
      }
    });
    const { tokens, offsets } = this.pack(
      batch.map((r) => r.tokens),
      "prove",
    );
    const promptLens = Int32Array.from(batch, (r) => r.promptLen);
    const rvec = generateRVec(randomnessHex);
    const res = await this.run("prove", () =>
      this.handle.prove(tokens, offsets, promptLens, rvec, profile, sharePrompts),
    );
    let lpAt = 0;
    return batch.map((r, i) => {
      const len = r.tokens.length;
      const completion = len - r.promptLen;
      const proof: RolloutProof = {
        sVals: res.sVals.slice(offsets[i]!, offsets[i]! + len),
        logprobs: res.logprobs.slice(lpAt, lpAt + completion),
        eosProb: res.eosProb[i]!,
      };
      lpAt += completion;
      return proof;
    });
  }

  async lastLogits(sequences: readonly (Int32Array | readonly number[])[]): Promise<Float32Array[]> {
    if (sequences.length === 0) return [];
    const { tokens, offsets } = this.pack(sequences, "lastLogits");
    const flat = await this.run("lastLogits", () => this.handle.lastLogits(tokens, offsets));
    const V = this.config.info.vocabSize;
    return sequences.map((_, i) => flat.slice(i * V, (i + 1) * V));
  }

  async hiddenStates(sequence: Int32Array | readonly number[]): Promise<Float32Array> {
    const { tokens, offsets } = this.pack([sequence], "hiddenStates");
    return this.run("hiddenStates", () => this.handle.hiddenStates(tokens, offsets));
  }

  weightStats(): { weightBytes: number; weightAllocations: number } {
    return this.handle.stats();
  }

  lastProfile(): Promise<EngineProfile | null> {
    // Through the call queue: the native side holds its lock while a call runs.
    return this.run("lastProfile", async () => {
      const raw = this.handle.profile();
      return raw === null ? null : parseProfile(raw);
    });
  }

  async reload(modelDir: string): Promise<void> {
    const config = readModelConfig(modelDir);
    if (!sameArchitecture(this.config, config)) {
      throw new EngineError(
        "architecture_changed",
        `${modelDir} has a different architecture than ${this.dir}; load it as a new model instead of reloading`,
        { from: this.dir, to: modelDir },
      );
    }
    const weights = planWeights(modelDir, config);
    await this.run("reload", () => this.handle.load(weights));
    this.config = config;
    this.dir = modelDir;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.tail.then(() => this.handle.close());
  }
}

/** Loads a HF model directory (config.json + safetensors) onto a backend. */
export async function loadModel(
  modelDir: string,
  options: LoadOptions = {},
): Promise<ProofModel & ProofModelDiagnostics> {
  const config = readModelConfig(modelDir);
  const weights = planWeights(modelDir, config);
  const device = options.device ?? 0;
  const backend = resolveBackend(options.backend, device);
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) {
    throw new EngineError("invalid_input", `threads must be a non-negative integer, got ${threads}`);
  }
  const switches = proveSwitches(options, { profile: false, sharePrompts: true });
  const addon = loadAddon();
  const handle = new addon.NativeModel(config.native, backend, device, threads, cudaLibraryPath());
  try {
    await handle.load(weights);
  } catch (err) {
    handle.close();
    throw fromNativeError(err, { operation: "load", modelDir, backend });
  }
  return new NativeProofModel(modelDir, config, backend, handle, switches);
}
