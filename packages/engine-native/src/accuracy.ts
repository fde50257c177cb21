import {
  CHALLENGE_K,
  challengeIndices,
  LOGPROB_IS_EPS,
  sketchDistance,
  sketchTolerance,
} from "@grail/protocol";

/** What one side (engine or reference) says about one rollout. */
export interface ProofFigures {
  sVals: ArrayLike<number>;
  logprobs: ArrayLike<number>;
}

export interface AccuracyReport {
  positions: number;
  sketchMax: number;
  sketchP999: number;
  sketchMean: number;
  identicalFraction: number;
  overTolerance: number;
  /** Median over all completion positions of exp(|Δ logprob|) − 1. */
  medianLogprobDev: number;
  /** Rollouts whose validator-style logprob test (median over the challenged positions ≤ 0.10) fails. */
  rolloutsFailingLogprob: number;
  rollouts: number;
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/**
 * Compares proofs against a reference the way the validator would: modular sketch distance at every
 * position against the tolerance, and the logprob test at CHALLENGE_K positions drawn with the protocol's
 * challenge derivation from a fixed challenge randomness.
 */
export function compareProofs(
  rollouts: readonly { tokens: ArrayLike<number>; promptLen: number }[],
  reference: readonly ProofFigures[],
  actual: readonly ProofFigures[],
  challengeRandomnessHex = "c4a11e96e0000000000000000000000000000000000000000000000000000001",
): AccuracyReport {
  const dists: number[] = [];
  const devs: number[] = [];
  let over = 0;
  let identical = 0;
  let failing = 0;
  rollouts.forEach((r, i) => {
    const ref = reference[i]!;
    const act = actual[i]!;
    for (let p = 0; p < r.tokens.length; p++) {
      const d = sketchDistance(ref.sVals[p]!, act.sVals[p]!);
      dists.push(d);
      if (d === 0) identical++;
      if (d > sketchTolerance(p)) over++;
    }
    const dev = (j: number) => Math.expm1(Math.abs(ref.logprobs[j]! - act.logprobs[j]!));
    for (let j = 0; j < ref.logprobs.length; j++) devs.push(dev(j));
    const challenged = challengeIndices(
      r.tokens,
      challengeRandomnessHex,
      r.promptLen,
      r.tokens.length,
      CHALLENGE_K,
    );
    const cdevs = challenged.map((p) => dev(p - r.promptLen)).sort((a, b) => a - b);
    if (median(cdevs) > LOGPROB_IS_EPS) failing++;
  });
  dists.sort((a, b) => a - b);
  devs.sort((a, b) => a - b);
  const n = dists.length;
  return {
    positions: n,
    sketchMax: n ? dists[n - 1]! : 0,
    sketchP999: n ? dists[Math.min(n - 1, Math.floor(0.999 * (n - 1)))]! : 0,
    sketchMean: n ? dists.reduce((a, b) => a + b, 0) / n : 0,
    identicalFraction: n ? identical / n : 1,
    overTolerance: over,
    medianLogprobDev: median(devs),
    rolloutsFailingLogprob: failing,
    rollouts: rollouts.length,
  };
}

/**
 * Whether two sets of proofs are the same bits: every sketch value, logprob and EOS probability
 * (NaN equal to NaN, 0 and -0 told apart). For checks that a change of layout, profiling or process
 * must not move any result.
 */
export function identicalProofs(
  a: readonly (ProofFigures & { eosProb: number })[],
  b: readonly (ProofFigures & { eosProb: number })[],
): boolean {
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) => {
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  };
  return (
    a.length === b.length &&
    a.every(
      (p, i) =>
        same(p.sVals, b[i]!.sVals) && same(p.logprobs, b[i]!.logprobs) && Object.is(p.eosProb, b[i]!.eosProb),
    )
  );
}
