import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { GenerationConfigError } from "../errors.js";

/**
 * What the native server needs of a model: fp32 logits of each sequence's last position.
 * `@grail/engine-native`'s ProofModel satisfies it (its `info` carries more fields).
 */
export interface LogitsModel {
  readonly info: { readonly vocabSize: number; readonly eosTokenId: number | null };
  lastLogits(sequences: readonly (Int32Array | readonly number[])[]): Promise<Float32Array[]>;
  close?(): void;
}

/** File that marks a directory as a bigram model (the tiny deterministic model of tests and the devnet). */
export const BIGRAM_MODEL_FILE = "grail-bigram.json";

export interface BigramModelSpec {
  format: "grail-bigram";
  vocabSize: number;
  eosTokenId: number;
  /** Different seeds are different "weights". */
  seed: number;
  /** Logit scale of the hashed bigram table. */
  scale: number;
  /** Added to the EOS logit so sequences end after a plausible length. */
  eosBias: number;
}

function mix32(x: number): number {
  // murmur3 finaliser: a well-spread 32-bit hash of (seed, previous token, candidate token)
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A bigram language model whose logit table is a hash of (seed, previous token, next token):
 * deterministic, cheap, different per seed, and a real conditional distribution, so sampling,
 * stopping and weight swaps behave as they do with a transformer.
 */
export class BigramLogitsModel implements LogitsModel {
  readonly info: { vocabSize: number; eosTokenId: number };
  private readonly rowCache = new Map<number, Float32Array>();
  /** Rows kept in memory: about 64 MiB whatever the vocabulary size. */
  private readonly maxCachedRows: number;

  constructor(readonly spec: BigramModelSpec) {
    if (!Number.isInteger(spec.vocabSize) || spec.vocabSize < 2) {
      throw new GenerationConfigError(`bigram vocabSize must be an integer ≥ 2, got ${spec.vocabSize}`, {});
    }
    if (!Number.isInteger(spec.eosTokenId) || spec.eosTokenId < 0 || spec.eosTokenId >= spec.vocabSize) {
      throw new GenerationConfigError(`bigram eosTokenId ${spec.eosTokenId} outside the vocabulary`, {});
    }
    this.info = { vocabSize: spec.vocabSize, eosTokenId: spec.eosTokenId };
    this.maxCachedRows = Math.max(1, Math.floor((64 * 1024 * 1024) / (4 * spec.vocabSize)));
  }

  row(previous: number): Float32Array {
    const key = previous;
    const cached = this.rowCache.get(key);
    if (cached) return cached;
    const { vocabSize, seed, scale, eosBias, eosTokenId } = this.spec;
    const row = new Float32Array(vocabSize);
    const base = mix32(seed ^ Math.imul(previous + 1, 0x9e3779b1));
    for (let v = 0; v < vocabSize; v++) {
      const h = mix32(base ^ Math.imul(v + 1, 0x27d4eb2f));
      row[v] = (h / 4294967296 - 0.5) * 2 * scale;
    }
    row[eosTokenId]! += eosBias;
    if (this.rowCache.size < this.maxCachedRows) this.rowCache.set(key, row);
    return row;
  }

  async lastLogits(sequences: readonly (Int32Array | readonly number[])[]): Promise<Float32Array[]> {
    return sequences.map((seq) => {
      const last = seq.length > 0 ? seq[seq.length - 1]! : 0;
      if (!Number.isInteger(last) || last < 0 || last >= this.spec.vocabSize) {
        throw new GenerationConfigError(
          `token id ${last} outside the bigram vocabulary of ${this.spec.vocabSize}`,
          {
            token: last,
          },
        );
      }
      return Float32Array.from(this.row(last));
    });
  }
}

export async function writeBigramModelDir(
  dir: string,
  spec: Omit<BigramModelSpec, "format">,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const full: BigramModelSpec = { format: "grail-bigram", ...spec };
  await writeFile(path.join(dir, BIGRAM_MODEL_FILE), `${JSON.stringify(full, null, 2)}\n`);
  return dir;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export interface LoadLogitsModelOptions {
  /** Backend for the native proof engine (`cpu` | `cuda`). */
  backend?: "cpu" | "cuda";
}

/**
 * Loads the model in `dir`: a bigram description when `grail-bigram.json` is present, otherwise the
 * safetensors checkpoint through `@grail/engine-native` (loaded lazily, so this package works without it).
 */
export async function loadLogitsModel(
  dir: string,
  options: LoadLogitsModelOptions = {},
): Promise<LogitsModel> {
  const bigramFile = path.join(dir, BIGRAM_MODEL_FILE);
  if (await exists(bigramFile)) {
    const parsed = JSON.parse(await readFile(bigramFile, "utf8")) as Partial<BigramModelSpec>;
    if (parsed.format !== "grail-bigram") {
      throw new GenerationConfigError(`${bigramFile} is not a grail-bigram model description`, {
        file: bigramFile,
      });
    }
    return new BigramLogitsModel({
      format: "grail-bigram",
      vocabSize: Number(parsed.vocabSize),
      eosTokenId: Number(parsed.eosTokenId),
      seed: Number(parsed.seed ?? 0),
      scale: Number(parsed.scale ?? 4),
      eosBias: Number(parsed.eosBias ?? 0),
    });
  }
  if (!(await exists(path.join(dir, "config.json")))) {
    throw new GenerationConfigError(
      `${dir} holds neither ${BIGRAM_MODEL_FILE} nor a transformer checkpoint (config.json); point --model-path at a model directory`,
      { dir },
    );
  }
  // Loaded lazily: the native addon is only needed when a real checkpoint is served.
  let engine: typeof import("@grail/engine-native");
  try {
    engine = await import("@grail/engine-native");
  } catch (error) {
    throw new GenerationConfigError(
      `serving ${dir} needs @grail/engine-native, which could not be loaded (${(error as Error).message}); build it or serve a bigram model`,
      { dir },
      { cause: error },
    );
  }
  return engine.loadModel(dir, options.backend ? { backend: options.backend } : {});
}
