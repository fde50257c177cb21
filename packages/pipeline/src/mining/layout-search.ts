/**
 * The layout search of the advisor (scripts/bench/layout-advisor.mjs): every layout of a box up to N
 * GPUs over TP × DP × proof placement, simulated with layout-sim, and per box the best predicted
 * window and the fewest GPUs that reach the subnet's cap. Predictions, not measurements: they are as
 * good as the rates they are given.
 */
import { UNIQUE_ROLLOUTS_CAP } from "@grail/protocol";
import {
  type Layout,
  layoutGpus,
  type StageRates,
  simulateWindows,
  type WindowPrediction,
} from "./layout-sim.js";

export interface RankedLayout {
  layout: Layout;
  /** GPUs it occupies (layoutGpus). */
  gpus: number;
  prediction: WindowPrediction;
}

export interface LayoutSearchOptions {
  /** GROUPS_PER_BATCH candidates (the whole call; DP replicas split it). */
  groupsPerBatch?: readonly number[];
  /** Tensor-parallel sizes of one generation replica. */
  tpSizes?: readonly number[];
}

export const SEARCH_GROUPS_PER_BATCH: readonly number[] = [1, 4, 8, 16, 24, 32, 48, 72, 96, 128, 192, 256];

/**
 * Every layout within `maxGpus` GPUs: `dp` replicas of TP=`tp` for generation, `proofGpus` dedicated
 * proof GPUs and `colocatedProofs` workers on generation GPUs (only when the rates carry a contention
 * factor), with each GROUPS_PER_BATCH candidate. Most rollouts first; among equals, fewer GPUs.
 */
export function searchLayouts(
  maxGpus: number,
  rates: StageRates,
  options: LayoutSearchOptions = {},
): RankedLayout[] {
  const gpbs = options.groupsPerBatch ?? SEARCH_GROUPS_PER_BATCH;
  const colocate = rates.colocatedProofContention !== undefined;
  const out: RankedLayout[] = [];
  for (const tp of options.tpSizes ?? [1, 2, 4, 8]) {
    for (let dp = 1; tp * dp <= maxGpus; dp++) {
      const generation = tp * dp;
      for (let proofGpus = 0; generation + proofGpus <= maxGpus; proofGpus++) {
        for (let colocatedProofs = 0; colocatedProofs <= (colocate ? generation : 0); colocatedProofs++) {
          if (proofGpus + colocatedProofs === 0) continue;
          for (const groupsPerBatch of gpbs) {
            const layout: Layout = { tp, dp, proofGpus, colocatedProofs, groupsPerBatch };
            out.push({ layout, gpus: layoutGpus(layout), prediction: simulateWindows(layout, rates) });
          }
        }
      }
    }
  }
  return out.sort(
    (a, b) =>
      b.prediction.rollouts - a.prediction.rollouts ||
      a.gpus - b.gpus ||
      (a.layout.colocatedProofs ?? 0) - (b.layout.colocatedProofs ?? 0),
  );
}

export interface BoxSummary {
  gpus: number;
  cap: number;
  /** The most rollouts per window of any layout in the box (null when none was searched). */
  best: RankedLayout | null;
  /** The fewest GPUs that reach the cap (most rollouts among those); null when none does. */
  smallestAtCap: RankedLayout | null;
}

/** Reads a box's answer off searchLayouts' ranking. */
export function summariseBox(
  gpus: number,
  ranked: readonly RankedLayout[],
  cap = UNIQUE_ROLLOUTS_CAP,
): BoxSummary {
  let smallestAtCap: RankedLayout | null = null;
  for (const r of ranked) {
    if (r.gpus > gpus || r.prediction.rollouts < cap) continue;
    // ranked is most-rollouts first, so the first on the fewest GPUs is the best of those
    if (smallestAtCap === null || r.gpus < smallestAtCap.gpus) smallestAtCap = r;
  }
  return { gpus, cap, best: ranked.find((r) => r.gpus <= gpus) ?? null, smallestAtCap };
}
