import {
  LOGPROB_IS_EPS,
  MIN_EOS_PROBABILITY,
  SAMPLING_INITIAL_WINDOW_STEPS,
  SAMPLING_LOW_Q10_MAX,
  SAMPLING_MEDIAN_LOW_MAX,
  SAMPLING_MIN_STEPS,
  SAMPLING_MIN_TOKEN_PROB,
} from "@grail/protocol";

/** Python `statistics.median`: the middle value, or the mean of the two middle values. */
export function pythonMedian(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** numpy's default (`linear`) quantile. */
export function numpyQuantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("quantile of no values");
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Python `math.isclose`. */
export function isClose(a: number, b: number, relTol: number, absTol: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const diff = Math.abs(a - b);
  return diff <= Math.max(relTol * Math.max(Math.abs(a), Math.abs(b)), absTol);
}

export interface LogprobVerdict {
  ok: boolean;
  /** Median of exp(|Δ|) − 1 over the challenged positions (NaN when unresolved). */
  medianDeviation: number;
  message: string;
}

/**
 * P8 (§3.5): dev = exp(|lp_validator − lp_miner|) − 1 at each challenged position; the median
 * must be ≤ LOGPROB_IS_EPS. Any unresolved position (non-finite value) fails closed.
 */
export function logprobVerdict(validator: readonly number[], miner: readonly number[]): LogprobVerdict {
  const devs: number[] = [];
  for (let i = 0; i < validator.length; i++) {
    const v = validator[i]!;
    const m = miner[i]!;
    if (!Number.isFinite(v) || !Number.isFinite(m)) {
      return {
        ok: false,
        medianDeviation: Number.NaN,
        message: `logprob at challenged position ${i} is unresolved (validator ${v}, miner ${m})`,
      };
    }
    devs.push(Math.expm1(Math.abs(v - m)));
  }
  const median = pythonMedian(devs);
  return {
    ok: median <= LOGPROB_IS_EPS,
    medianDeviation: median,
    message: `median IS deviation ${median.toPrecision(4)} ${median <= LOGPROB_IS_EPS ? "≤" : ">"} ${LOGPROB_IS_EPS}`,
  };
}

/** softmax(logits)[token] in float64 with a stable log-sum-exp. */
export function softmaxProbability(logits: ArrayLike<number>, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return Math.exp(logits[token]! - max) / sum;
}

/** P5's probability threshold for the final EOS token. */
export const EOS_THRESHOLD = MIN_EOS_PROBABILITY;

/**
 * The chosen token's probability under HF's RepetitionPenaltyLogitsProcessor (over `context`,
 * the ids before the position) and TemperatureLogitsWarper, without top-k/top-p (§7.4 P9).
 */
export function sampledTokenProbability(
  logits: Float32Array,
  token: number,
  context: ReadonlySet<number>,
  repetitionPenalty: number,
  temperature: number,
): number {
  // In place: the caller hands over a fresh logits row per position.
  if (repetitionPenalty !== 1.0) {
    for (const id of context) {
      if (id < 0 || id >= logits.length) continue;
      const x = logits[id]!;
      logits[id] = x < 0 ? x * repetitionPenalty : x / repetitionPenalty;
    }
  }
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  const inv = 1 / temperature;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i]! - max) * inv);
  return Math.exp((logits[token]! - max) * inv) / sum;
}

export interface DistributionVerdict {
  ok: boolean;
  steps: number;
  median: number;
  min: number;
  q10: number;
  q10Initial: number;
  message: string;
}

/** P9's decision over the chosen-token probabilities of one completion. */
export function distributionVerdict(probs: readonly number[]): DistributionVerdict {
  const steps = probs.length;
  if (steps < SAMPLING_MIN_STEPS) {
    return {
      ok: false,
      steps,
      median: Number.NaN,
      min: Number.NaN,
      q10: Number.NaN,
      q10Initial: Number.NaN,
      message: `only ${steps} completion steps (< ${SAMPLING_MIN_STEPS})`,
    };
  }
  const median = numpyQuantile(probs, 0.5);
  const min = Math.min(...probs);
  const q10 = numpyQuantile(probs, 0.1);
  const q10Initial = numpyQuantile(probs.slice(0, Math.min(SAMPLING_INITIAL_WINDOW_STEPS, steps)), 0.1);
  const problems: string[] = [];
  if (median <= SAMPLING_MEDIAN_LOW_MAX)
    problems.push(`median ${median.toPrecision(3)} ≤ ${SAMPLING_MEDIAN_LOW_MAX}`);
  if (min <= SAMPLING_MIN_TOKEN_PROB) problems.push(`min ${min.toPrecision(3)} ≤ ${SAMPLING_MIN_TOKEN_PROB}`);
  if (q10 <= SAMPLING_LOW_Q10_MAX) problems.push(`q10 ${q10.toPrecision(3)} ≤ ${SAMPLING_LOW_Q10_MAX}`);
  if (q10Initial <= SAMPLING_LOW_Q10_MAX) {
    problems.push(
      `q10 of the first ${SAMPLING_INITIAL_WINDOW_STEPS} ${q10Initial.toPrecision(3)} ≤ ${SAMPLING_LOW_Q10_MAX}`,
    );
  }
  return {
    ok: problems.length === 0,
    steps,
    median,
    min,
    q10,
    q10Initial,
    message:
      problems.length === 0
        ? `median ${median.toPrecision(3)}, q10 ${q10.toPrecision(3)}, min ${min.toPrecision(3)} over ${steps} steps`
        : problems.join("; "),
  };
}
