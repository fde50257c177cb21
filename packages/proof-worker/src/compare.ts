import { sketchDistance, sketchTolerance } from "@grail/protocol";

/** One rollout's proof as the worker returned it or the reference computed it. */
export interface ProofValues {
  sVals: ArrayLike<number>;
  logprobs: ArrayLike<number>;
  eosProb: number;
}

/** The validator's logprob test: median of exp(|Δ|) − 1 at the challenged positions ≤ 0.10 (protocol §3.5). */
export const LOGPROB_MEDIAN_DEV_LIMIT = 0.1;

export interface RolloutComparison {
  index: number;
  positions: number;
  /** Over every position. */
  sketchMax: number;
  sketchMean: number;
  identicalFraction: number;
  /** Positions over the validator's tolerance ⌊6000 + 5√p⌋ (any is a failed proof). */
  overTolerance: { position: number; distance: number; tolerance: number }[];
  /** At the sampled completion positions, as a validator checks them. */
  sampledPositions: number[];
  sampledSketchMax: number;
  logprobMaxAbs: number;
  logprobMedianDev: number;
  eosProbDelta: number;
  pass: boolean;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** k distinct completion positions in [promptLen, length), ascending (all of them when fewer). */
export function samplePositions(promptLen: number, length: number, k: number, rand: () => number): number[] {
  const all = Array.from({ length: length - promptLen }, (_, i) => promptLen + i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, k).sort((a, b) => a - b);
}

/** Compares a worker's proof of one rollout with the reference's. */
export function compareRollout(
  index: number,
  promptLen: number,
  worker: ProofValues,
  reference: ProofValues,
  sampled: number[],
): RolloutComparison {
  const n = reference.sVals.length;
  if (worker.sVals.length !== n || worker.logprobs.length !== reference.logprobs.length) {
    throw new Error(
      `rollout ${index}: the worker returned ${worker.sVals.length} sketches and ${worker.logprobs.length} logprobs, the reference ${n} and ${reference.logprobs.length}`,
    );
  }
  let max = 0;
  let sum = 0;
  let same = 0;
  const over: RolloutComparison["overTolerance"] = [];
  for (let p = 0; p < n; p++) {
    const d = sketchDistance(worker.sVals[p]!, reference.sVals[p]!);
    max = Math.max(max, d);
    sum += d;
    if (d === 0) same++;
    const tol = sketchTolerance(p);
    if (d > tol) over.push({ position: p, distance: d, tolerance: tol });
  }
  let lpMax = 0;
  for (let j = 0; j < reference.logprobs.length; j++) {
    const a = worker.logprobs[j]!;
    const b = reference.logprobs[j]!;
    const d = a === b ? 0 : Math.abs(a - b);
    lpMax = Math.max(lpMax, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
  }
  const devs = sampled.map((p) => {
    const a = worker.logprobs[p - promptLen]!;
    const b = reference.logprobs[p - promptLen]!;
    return a === b ? 0 : Math.exp(Math.abs(a - b)) - 1;
  });
  const sampledSketchMax = sampled.reduce(
    (m, p) => Math.max(m, sketchDistance(worker.sVals[p]!, reference.sVals[p]!)),
    0,
  );
  const medianDev = median(devs);
  const eosDelta = Math.abs(worker.eosProb - reference.eosProb);
  return {
    index,
    positions: n,
    sketchMax: max,
    sketchMean: n > 0 ? sum / n : 0,
    identicalFraction: n > 0 ? same / n : 1,
    overTolerance: over,
    sampledPositions: sampled,
    sampledSketchMax,
    logprobMaxAbs: lpMax,
    logprobMedianDev: medianDev,
    eosProbDelta: Number.isNaN(eosDelta) ? 0 : eosDelta,
    pass: over.length === 0 && medianDev <= LOGPROB_MEDIAN_DEV_LIMIT,
  };
}
