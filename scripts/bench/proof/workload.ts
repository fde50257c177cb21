// workload.json, as bench_hf.py (benchlib.make_workload) writes it: the rollouts both engines prove.
import { readFileSync } from "node:fs";
import { GrailError } from "../../../packages/protocol/src/index.js";
import type { BatchRollout, ModelDims } from "./stage-work.js";

export interface WorkloadCase {
  name: string;
  rollouts: number;
  tokens: number;
  /** Useful FLOPs of the whole case (benchlib.rollout_flops summed). */
  flops: number;
  /** Groups of 16 rollouts sharing a prompt. */
  groups: BatchRollout[][];
}

export interface Workload {
  randomness: string;
  groupSize: number;
  model: ModelDims;
  cases: WorkloadCase[];
}

export class WorkloadError extends GrailError {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}; write it with "python3 scripts/bench/proof/bench_hf.py workload" (or hf)`, {
      path,
      problem,
    });
  }
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** Reads and checks a workload file: every rollout has tokens and a prompt inside them. */
export function readWorkload(path: string): Workload {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new WorkloadError(path, `cannot be read as JSON (${(e as Error).message})`);
  }
  const w = doc as Partial<Workload> | null;
  if (!w || typeof w.randomness !== "string" || !/^[0-9a-fA-F]+$/.test(w.randomness)) {
    throw new WorkloadError(path, "randomness is missing or not hex");
  }
  const m = w.model as Partial<ModelDims> | undefined;
  const dims = ["hidden", "intermediate", "layers", "heads", "kvHeads", "headDim", "vocab"] as const;
  if (!m || dims.some((k) => !isCount(m[k]) || m[k] === 0)) {
    throw new WorkloadError(path, "model dimensions are missing");
  }
  if (!Array.isArray(w.cases) || w.cases.length === 0) throw new WorkloadError(path, "there are no cases");
  for (const c of w.cases) {
    if (typeof c.name !== "string" || !Array.isArray(c.groups) || c.groups.length === 0) {
      throw new WorkloadError(path, `case ${JSON.stringify(c.name)} has no groups`);
    }
    let rollouts = 0;
    let tokens = 0;
    for (const g of c.groups) {
      for (const r of g) {
        if (
          !Array.isArray(r.tokens) ||
          !isCount(r.promptLen) ||
          r.promptLen < 1 ||
          r.promptLen >= r.tokens.length
        ) {
          throw new WorkloadError(
            path,
            `case ${c.name}: a rollout needs a prompt and at least one completion token`,
          );
        }
        rollouts++;
        tokens += r.tokens.length;
      }
    }
    if (rollouts !== c.rollouts || tokens !== c.tokens || !(c.flops > 0)) {
      throw new WorkloadError(path, `case ${c.name}: rollouts, tokens or flops disagree with its groups`);
    }
  }
  return w as Workload;
}
