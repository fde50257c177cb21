import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "@grail/util";
import type { ModelType } from "./config.js";
import { type SafetensorsDtype, type TensorToWrite, writeSafetensors } from "./safetensors.js";

/** Shape and storage of a random-init model (small ones serve tests and the local devnet). */
export interface RandomModelOptions {
  modelType: ModelType;
  hiddenSize: number;
  numLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim?: number;
  intermediateSize: number;
  vocabSize: number;
  seed?: number;
  /** Scale a few residual channels of the input/post-attention norms by 10-100x, as trained LLMs have. */
  outliers?: boolean;
  tieWordEmbeddings?: boolean;
  dtype?: SafetensorsDtype;
  /** Split the weights over this many shards with a model.safetensors.index.json. */
  shards?: number;
  eosTokenId?: number;
  ropeTheta?: number;
  /** Llama 3 rope scaling parameters (llama only). */
  llama3RopeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMax: number };
  /** Std of the weight init (HF initializer_range). */
  initStd?: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function toBf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

function toF16Bits(x: number): number {
  // Via bf16-representable values is not needed here: plain round-to-nearest of small normal floats.
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  const mant = u & 0x7fffff;
  let h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h += 1;
  return h;
}

function encode(values: Float32Array, dtype: SafetensorsDtype, shape: readonly number[]): TensorToWrite {
  if (dtype === "F32") return { dtype, shape, data: new Uint8Array(values.buffer.slice(0)) };
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = dtype === "BF16" ? toBf16Bits(values[i]!) : toF16Bits(values[i]!);
  return { dtype, shape, data: new Uint8Array(out.buffer) };
}

/** Writes config.json and safetensors weights of a random-init model of the given family. */
export function writeRandomModel(dir: string, o: RandomModelOptions): void {
  mkdirSync(dir, { recursive: true });
  const rand = mulberry32(o.seed ?? 1);
  const std = o.initStd ?? 0.02;
  const normal = (): number => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const H = o.hiddenSize;
  const hd = o.headDim ?? Math.floor(H / o.numAttentionHeads);
  const dtype = o.dtype ?? "BF16";
  const tensors: Record<string, TensorToWrite> = {};
  const randomMatrix = (name: string, shape: number[], scale = std) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = normal() * scale;
    tensors[name] = encode(v, dtype, shape);
  };
  const norm = (name: string, n: number, outliers: boolean) => {
    const v = new Float32Array(n).fill(1);
    if (outliers) {
      const count = Math.max(1, Math.floor(n / 64));
      for (let i = 0; i < count; i++) v[Math.floor(rand() * n)] = 10 + rand() * 90;
    }
    tensors[name] = encode(v, dtype, [n]);
  };

  randomMatrix("model.embed_tokens.weight", [o.vocabSize, H]);
  for (let l = 0; l < o.numLayers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`, H, o.outliers ?? false);
    randomMatrix(`${p}.self_attn.q_proj.weight`, [o.numAttentionHeads * hd, H]);
    randomMatrix(`${p}.self_attn.k_proj.weight`, [o.numKeyValueHeads * hd, H]);
    randomMatrix(`${p}.self_attn.v_proj.weight`, [o.numKeyValueHeads * hd, H]);
    if (o.modelType === "qwen2") {
      randomMatrix(`${p}.self_attn.q_proj.bias`, [o.numAttentionHeads * hd]);
      randomMatrix(`${p}.self_attn.k_proj.bias`, [o.numKeyValueHeads * hd]);
      randomMatrix(`${p}.self_attn.v_proj.bias`, [o.numKeyValueHeads * hd]);
    }
    if (o.modelType === "qwen3") {
      norm(`${p}.self_attn.q_norm.weight`, hd, false);
      norm(`${p}.self_attn.k_norm.weight`, hd, false);
    }
    randomMatrix(`${p}.self_attn.o_proj.weight`, [H, o.numAttentionHeads * hd]);
    norm(`${p}.post_attention_layernorm.weight`, H, o.outliers ?? false);
    randomMatrix(`${p}.mlp.gate_proj.weight`, [o.intermediateSize, H]);
    randomMatrix(`${p}.mlp.up_proj.weight`, [o.intermediateSize, H]);
    randomMatrix(`${p}.mlp.down_proj.weight`, [H, o.intermediateSize]);
  }
  norm("model.norm.weight", H, false);
  if (!o.tieWordEmbeddings) randomMatrix("lm_head.weight", [o.vocabSize, H]);

  const shards = Math.max(1, o.shards ?? 1);
  if (shards === 1) {
    writeSafetensors(join(dir, "model.safetensors"), tensors);
  } else {
    const names = Object.keys(tensors);
    const per = Math.ceil(names.length / shards);
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
      const part: Record<string, TensorToWrite> = {};
      for (const n of names.slice(s * per, (s + 1) * per)) {
        part[n] = tensors[n]!;
        weightMap[n] = file;
      }
      writeSafetensors(join(dir, file), part);
    }
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2),
    );
  }

  const config: Record<string, unknown> = {
    architectures: [
      { qwen2: "Qwen2ForCausalLM", qwen3: "Qwen3ForCausalLM", llama: "LlamaForCausalLM" }[o.modelType],
    ],
    model_type: o.modelType,
    hidden_size: H,
    intermediate_size: o.intermediateSize,
    num_hidden_layers: o.numLayers,
    num_attention_heads: o.numAttentionHeads,
    num_key_value_heads: o.numKeyValueHeads,
    head_dim: hd,
    vocab_size: o.vocabSize,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: o.ropeTheta ?? 10000,
    hidden_act: "silu",
    tie_word_embeddings: o.tieWordEmbeddings ?? false,
    torch_dtype: { BF16: "bfloat16", F16: "float16", F32: "float32" }[dtype],
    eos_token_id: o.eosTokenId ?? o.vocabSize - 1,
    attention_bias: o.modelType === "qwen2",
  };
  if (o.llama3RopeScaling) {
    const s = o.llama3RopeScaling;
    config.rope_scaling = {
      rope_type: "llama3",
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMax,
    };
  }
  writeFileSync(join(dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
}
