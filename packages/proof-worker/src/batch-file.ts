import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { GrailError, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { mulberry32 } from "@grail/util";

/** A batch to prove: rollouts in groups of `groupSize` (the last group may be smaller). */
export interface DebugBatch {
  randomnessHex: string;
  modelName: string;
  rollouts: { tokens: number[]; promptLen: number }[];
  groupSize: number;
}

/** A batch file (JSON), as written by --save-batch or assembled from a miner's window file. */
export interface BatchFile {
  randomnessHex?: string;
  modelName?: string;
  groupSize?: number;
  rollouts: { tokens: number[]; promptLen: number }[];
}

export class BatchFileError extends GrailError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`, { path });
  }
}

const DEFAULT_RANDOMNESS = "ab".repeat(32);

export function readBatchFile(path: string, vocabSize: number, fallbackModelName: string): DebugBatch {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new BatchFileError(path, `not a readable JSON file (${(err as Error).message})`);
  }
  const file = json as BatchFile;
  if (!file || !Array.isArray(file.rollouts) || file.rollouts.length === 0) {
    throw new BatchFileError(path, 'expected {"rollouts": [{"tokens": [...], "promptLen": n}, ...]}');
  }
  file.rollouts.forEach((r, i) => {
    if (!Array.isArray(r.tokens) || r.tokens.length < 2) {
      throw new BatchFileError(path, `rollout ${i} needs a tokens array of at least 2 ids`);
    }
    const bad = r.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
    if (bad >= 0) {
      throw new BatchFileError(
        path,
        `rollout ${i} token ${bad} (${r.tokens[bad]}) is outside the vocabulary [0, ${vocabSize})`,
      );
    }
    if (!Number.isInteger(r.promptLen) || r.promptLen < 1 || r.promptLen > r.tokens.length) {
      throw new BatchFileError(path, `rollout ${i} promptLen must be in [1, ${r.tokens.length}]`);
    }
  });
  return {
    randomnessHex: file.randomnessHex ?? DEFAULT_RANDOMNESS,
    modelName: file.modelName ?? fallbackModelName,
    groupSize: file.groupSize ?? ROLLOUTS_PER_PROBLEM,
    rollouts: file.rollouts.map((r) => ({ tokens: [...r.tokens], promptLen: r.promptLen })),
  };
}

export function writeBatchFile(path: string, batch: DebugBatch): void {
  const file: BatchFile = {
    randomnessHex: batch.randomnessHex,
    modelName: batch.modelName,
    groupSize: batch.groupSize,
    rollouts: batch.rollouts,
  };
  writeFileSync(path, `${JSON.stringify(file)}\n`);
}

export interface SyntheticOptions {
  rollouts: number;
  promptLen: number;
  /** Completion lengths are drawn uniformly from [completionLen / 2, completionLen]. */
  completionLen: number;
  vocabSize: number;
  seed: number;
  modelName: string;
  randomnessHex?: string;
}

/**
 * A synthetic batch shaped like real groups: each group of 16 shares its prompt, completions
 * vary in length. Token ids are uniform over the vocabulary (fine for timing and engine-vs-engine
 * comparison; not a model-sampled distribution).
 */
export function syntheticBatch(o: SyntheticOptions): DebugBatch {
  const rand = mulberry32(o.seed);
  const token = () => Math.floor(rand() * o.vocabSize);
  const rollouts: DebugBatch["rollouts"] = [];
  let prompt: number[] = [];
  for (let i = 0; i < o.rollouts; i++) {
    if (i % ROLLOUTS_PER_PROBLEM === 0) prompt = Array.from({ length: o.promptLen }, token);
    const c = Math.max(1, Math.floor(o.completionLen / 2 + rand() * (o.completionLen / 2 + 1)));
    rollouts.push({ tokens: [...prompt, ...Array.from({ length: c }, token)], promptLen: o.promptLen });
  }
  return {
    randomnessHex: o.randomnessHex ?? DEFAULT_RANDOMNESS,
    modelName: o.modelName,
    groupSize: ROLLOUTS_PER_PROBLEM,
    rollouts,
  };
}

/** The newest complete checkpoint directory under <cacheDir>/checkpoints (checkpoint-<window>). */
export function newestCachedCheckpoint(cacheDir: string): { dir: string; window: number } | null {
  const root = join(cacheDir, "checkpoints");
  if (!existsSync(root)) return null;
  let best: { dir: string; window: number } | null = null;
  for (const name of readdirSync(root)) {
    const m = /^checkpoint-(\d+)$/.exec(name);
    if (!m) continue;
    const dir = join(root, name);
    if (!existsSync(join(dir, "config.json"))) continue;
    const window = Number(m[1]);
    if (!best || window > best.window) best = { dir, window };
  }
  return best;
}

/** model_name from the checkpoint's metadata.json, else the directory name. */
export function modelNameOf(modelDir: string): string {
  try {
    const meta = JSON.parse(readFileSync(join(modelDir, "metadata.json"), "utf8")) as {
      model_name?: unknown;
    };
    if (typeof meta.model_name === "string" && meta.model_name.length > 0) return meta.model_name;
  } catch {
    // no metadata.json: a plain HF model directory
  }
  return basename(modelDir);
}

export function vocabSizeOf(modelDir: string): number {
  const cfg = JSON.parse(readFileSync(join(modelDir, "config.json"), "utf8")) as { vocab_size?: unknown };
  if (typeof cfg.vocab_size !== "number" || cfg.vocab_size < 2) {
    throw new Error(`${modelDir}/config.json has no usable vocab_size`);
  }
  return cfg.vocab_size;
}
