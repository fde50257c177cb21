import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EngineError } from "./errors.js";

export type ModelType = "qwen2" | "qwen3" | "llama";

export interface ModelInfo {
  modelType: ModelType;
  hiddenSize: number;
  numLayers: number;
  vocabSize: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  eosTokenId: number | null;
}

/** Everything the native forward needs from config.json (field names are the addon's). */
export interface NativeConfig {
  modelType: 0 | 1 | 2;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  qkvBias: boolean;
  qkNorm: boolean;
  eosTokenId: number;
  rope: {
    theta: number;
    llama3: boolean;
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositions: number;
    attentionScaling: number;
  };
}

export interface ParsedConfig {
  info: ModelInfo;
  native: NativeConfig;
  intermediateSize: number;
  tieWordEmbeddings: boolean;
}

const TYPE_CODES: Record<ModelType, 0 | 1 | 2> = { qwen2: 0, qwen3: 1, llama: 2 };

type Json = Record<string, unknown>;

function positiveInt(cfg: Json, key: string, path: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new EngineError(
      "bad_config",
      `${path}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`,
      {
        path,
        key,
      },
    );
  }
  return v;
}

function positiveNumber(v: unknown, key: string, path: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new EngineError(
      "bad_config",
      `${path}: "${key}" must be a positive number, got ${JSON.stringify(v)}`,
      {
        path,
        key,
      },
    );
  }
  return v;
}

function parseRope(cfg: Json, path: string): NativeConfig["rope"] {
  // transformers 5 writes rope_parameters (theta inside); older configs have rope_theta + rope_scaling.
  const params = (cfg.rope_parameters ?? cfg.rope_scaling ?? null) as Json | null;
  const theta = positiveNumber(params?.rope_theta ?? cfg.rope_theta ?? 10000, "rope_theta", path);
  const ropeType = (params?.rope_type ?? params?.type ?? "default") as string;
  const rope: NativeConfig["rope"] = {
    theta,
    llama3: false,
    factor: 1,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositions: 8192,
    attentionScaling: 1,
  };
  if (ropeType === "default") return rope;
  if (ropeType === "llama3" && params) {
    rope.llama3 = true;
    rope.factor = positiveNumber(params.factor, "rope_scaling.factor", path);
    rope.lowFreqFactor = positiveNumber(params.low_freq_factor, "rope_scaling.low_freq_factor", path);
    rope.highFreqFactor = positiveNumber(params.high_freq_factor, "rope_scaling.high_freq_factor", path);
    rope.originalMaxPositions = positiveNumber(
      params.original_max_position_embeddings,
      "rope_scaling.original_max_position_embeddings",
      path,
    );
    return rope;
  }
  throw new EngineError(
    "unsupported_config",
    `${path}: rope type "${ropeType}" is not supported (supported: default, llama3)`,
    { path, ropeType },
  );
}

/** Reads and validates config.json of a HF model directory. */
export function readModelConfig(modelDir: string): ParsedConfig {
  const path = join(modelDir, "config.json");
  if (!existsSync(path)) {
    throw new EngineError("missing_file", `no config.json in ${modelDir}; pass a HF model directory`, {
      modelDir,
    });
  }
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new EngineError("bad_config", `${path} is not valid JSON: ${(err as Error).message}`, { path });
  }
  return parseModelConfig(cfg, path);
}

/** Validates the contents of a config.json; `path` names it in errors. */
export function parseModelConfig(raw: unknown, path = "config.json"): ParsedConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new EngineError("bad_config", `${path} must be a JSON object (a HF config.json)`, { path });
  }
  const cfg = raw as Json;
  const modelType = cfg.model_type;
  if (modelType !== "qwen2" && modelType !== "qwen3" && modelType !== "llama") {
    throw new EngineError(
      "unsupported_model_type",
      `model_type ${JSON.stringify(modelType)} in ${path} is not supported (supported: qwen2, qwen3, llama)`,
      { path, modelType },
    );
  }
  const hidden = positiveInt(cfg, "hidden_size", path);
  const heads = positiveInt(cfg, "num_attention_heads", path);
  const kvHeads = positiveInt(cfg, "num_key_value_heads", path, heads);
  const headDim = positiveInt(cfg, "head_dim", path, Math.floor(hidden / heads));
  const layers = positiveInt(cfg, "num_hidden_layers", path);
  const intermediate = positiveInt(cfg, "intermediate_size", path);
  const vocab = positiveInt(cfg, "vocab_size", path);
  const maxPositions = positiveInt(cfg, "max_position_embeddings", path, 32768);
  const eps = positiveNumber(cfg.rms_norm_eps ?? 1e-6, "rms_norm_eps", path);
  if (heads % kvHeads !== 0) {
    throw new EngineError(
      "bad_config",
      `${path}: num_attention_heads ${heads} is not a multiple of ${kvHeads}`,
      {
        path,
      },
    );
  }
  if (headDim % 2 !== 0 || headDim > 1024) {
    throw new EngineError(
      "unsupported_config",
      `${path}: head_dim ${headDim} must be even and at most 1024`,
      {
        path,
      },
    );
  }
  const act = cfg.hidden_act ?? "silu";
  if (act !== "silu") {
    throw new EngineError(
      "unsupported_config",
      `${path}: hidden_act ${JSON.stringify(act)} is not supported (silu)`,
      {
        path,
      },
    );
  }
  if (cfg.mlp_bias === true) {
    throw new EngineError("unsupported_config", `${path}: mlp_bias is not supported`, { path });
  }
  if (modelType !== "qwen2" && cfg.attention_bias === true) {
    throw new EngineError("unsupported_config", `${path}: attention_bias (o_proj bias) is not supported`, {
      path,
    });
  }
  if (cfg.use_sliding_window === true) {
    throw new EngineError("unsupported_config", `${path}: sliding-window attention is not supported`, {
      path,
    });
  }
  const eosRaw = cfg.eos_token_id;
  const eos = Array.isArray(eosRaw) ? eosRaw[0] : eosRaw;
  const eosTokenId = typeof eos === "number" && Number.isInteger(eos) && eos >= 0 && eos < vocab ? eos : null;
  const rope = parseRope(cfg, path);
  return {
    info: {
      modelType,
      hiddenSize: hidden,
      numLayers: layers,
      vocabSize: vocab,
      numAttentionHeads: heads,
      numKeyValueHeads: kvHeads,
      headDim,
      maxPositionEmbeddings: maxPositions,
      eosTokenId,
    },
    native: {
      modelType: TYPE_CODES[modelType],
      hidden,
      intermediate,
      layers,
      heads,
      kvHeads,
      headDim,
      vocab,
      eps,
      qkvBias: modelType === "qwen2",
      qkNorm: modelType === "qwen3",
      eosTokenId: eosTokenId ?? -1,
      rope,
    },
    intermediateSize: intermediate,
    tieWordEmbeddings: cfg.tie_word_embeddings === true,
  };
}
