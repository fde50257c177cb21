import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ParsedConfig } from "./config.js";
import { EngineError } from "./errors.js";
import { readSafetensorsHeader, type SafetensorsEntry } from "./safetensors.js";

/** A tensor the addon reads: file, absolute byte offset, element count and dtype code (0 bf16, 1 f16, 2 f32). */
export interface NativeTensor {
  name: string;
  path: string;
  offset: number;
  numel: number;
  dtype: 0 | 1 | 2;
}

export interface NativeLayer {
  inputNorm: NativeTensor;
  q: NativeTensor;
  k: NativeTensor;
  v: NativeTensor;
  qBias?: NativeTensor;
  kBias?: NativeTensor;
  vBias?: NativeTensor;
  o: NativeTensor;
  qNorm?: NativeTensor;
  kNorm?: NativeTensor;
  postNorm: NativeTensor;
  gate: NativeTensor;
  up: NativeTensor;
  down: NativeTensor;
}

export interface NativeWeights {
  embed: NativeTensor;
  finalNorm: NativeTensor;
  lmHead: NativeTensor;
  layers: NativeLayer[];
}

const DTYPES: Record<string, { code: 0 | 1 | 2; size: number }> = {
  BF16: { code: 0, size: 2 },
  F16: { code: 1, size: 2 },
  F32: { code: 2, size: 4 },
};

/** Every tensor of the model directory by name, from the shard index when there is one. */
export function indexTensors(modelDir: string): Map<string, SafetensorsEntry> {
  const indexPath = join(modelDir, "model.safetensors.index.json");
  let files: string[];
  if (existsSync(indexPath)) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(readFileSync(indexPath, "utf8")) as typeof index;
    } catch (err) {
      throw new EngineError("bad_safetensors", `${indexPath} is not valid JSON: ${(err as Error).message}`, {
        path: indexPath,
      });
    }
    if (!index.weight_map || typeof index.weight_map !== "object") {
      throw new EngineError("bad_safetensors", `${indexPath} has no weight_map`, { path: indexPath });
    }
    files = [...new Set(Object.values(index.weight_map))];
    for (const f of files) {
      if (!existsSync(join(modelDir, f))) {
        throw new EngineError("missing_file", `shard ${f} named in ${indexPath} does not exist`, { path: f });
      }
    }
  } else {
    files = readdirSync(modelDir)
      .filter((f) => f.endsWith(".safetensors"))
      .sort();
    if (files.length === 0) {
      throw new EngineError("missing_file", `no *.safetensors weights in ${modelDir}`, { modelDir });
    }
  }
  const map = new Map<string, SafetensorsEntry>();
  for (const f of files) {
    for (const e of readSafetensorsHeader(join(modelDir, f))) map.set(e.name, e);
  }
  return map;
}

/** Locates every tensor the forward pass needs and checks its dtype, shape and byte size. */
export function planWeights(modelDir: string, cfg: ParsedConfig): NativeWeights {
  const tensors = indexTensors(modelDir);
  const { hidden: H, heads, kvHeads, headDim: hd, vocab: V, layers } = cfg.native;
  const I = cfg.intermediateSize;

  const take = (name: string, shape: readonly number[]): NativeTensor => {
    const e = tensors.get(name);
    if (!e) {
      throw new EngineError("missing_tensor", `tensor ${name} is missing from the weights in ${modelDir}`, {
        tensor: name,
        modelDir,
      });
    }
    const dt = DTYPES[e.dtype];
    if (!dt) {
      throw new EngineError(
        "unsupported_dtype",
        `tensor ${name} has dtype ${e.dtype}; supported are BF16, F16 and F32`,
        { tensor: name, dtype: e.dtype },
      );
    }
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new EngineError(
        "bad_shape",
        `tensor ${name} has shape [${e.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`,
        { tensor: name, shape: e.shape, expected: shape },
      );
    }
    const numel = shape.reduce((a, b) => a * b, 1);
    if (e.end - e.begin !== numel * dt.size) {
      throw new EngineError(
        "bad_safetensors",
        `tensor ${name} spans ${e.end - e.begin} bytes, expected ${numel * dt.size} for ${e.dtype}[${shape.join(", ")}]`,
        { tensor: name },
      );
    }
    return { name, path: e.path, offset: e.begin, numel, dtype: dt.code };
  };

  const embed = take("model.embed_tokens.weight", [V, H]);
  const plan: NativeWeights = {
    embed,
    finalNorm: take("model.norm.weight", [H]),
    // HF ignores a stored lm_head when embeddings are tied, so do we.
    lmHead: cfg.tieWordEmbeddings ? embed : take("lm_head.weight", [V, H]),
    layers: [],
  };
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    const layer: NativeLayer = {
      inputNorm: take(`${p}.input_layernorm.weight`, [H]),
      q: take(`${p}.self_attn.q_proj.weight`, [heads * hd, H]),
      k: take(`${p}.self_attn.k_proj.weight`, [kvHeads * hd, H]),
      v: take(`${p}.self_attn.v_proj.weight`, [kvHeads * hd, H]),
      o: take(`${p}.self_attn.o_proj.weight`, [H, heads * hd]),
      postNorm: take(`${p}.post_attention_layernorm.weight`, [H]),
      gate: take(`${p}.mlp.gate_proj.weight`, [I, H]),
      up: take(`${p}.mlp.up_proj.weight`, [I, H]),
      down: take(`${p}.mlp.down_proj.weight`, [H, I]),
    };
    if (cfg.native.qkvBias) {
      layer.qBias = take(`${p}.self_attn.q_proj.bias`, [heads * hd]);
      layer.kBias = take(`${p}.self_attn.k_proj.bias`, [kvHeads * hd]);
      layer.vBias = take(`${p}.self_attn.v_proj.bias`, [kvHeads * hd]);
    }
    if (cfg.native.qkNorm) {
      layer.qNorm = take(`${p}.self_attn.q_norm.weight`, [hd]);
      layer.kNorm = take(`${p}.self_attn.k_norm.weight`, [hd]);
    }
    plan.layers.push(layer);
  }
  return plan;
}
