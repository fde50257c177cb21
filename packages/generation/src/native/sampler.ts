/** Sampling of one token from fp32 logits: repetition penalty, temperature, top-k, top-p (HF order). */

export interface NativeSamplingParams {
  temperature: number;
  topP: number;
  /** ≤ 0: off */
  topK: number;
  /** 1: off */
  repetitionPenalty: number;
}

/** Seeded uniform generator (splitmix32), so a request with sampling_seed is reproducible. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    z ^= z >>> 15;
    return (z >>> 0) / 4294967296;
  }
}

/**
 * HF's RepetitionPenaltyLogitsProcessor: every token already in the context has its logit divided by
 * the penalty when positive and multiplied when negative. Mutates `logits`.
 */
export function applyRepetitionPenalty(
  logits: Float32Array,
  context: ArrayLike<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (let i = 0; i < context.length; i++) {
    const t = context[i]!;
    if (seen.has(t) || t < 0 || t >= logits.length) continue;
    seen.add(t);
    const l = logits[t]!;
    logits[t] = l > 0 ? l / penalty : l * penalty;
  }
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Ids of the k largest logits, highest first (ties: lower id first), in O(V log k). */
export function topKIds(logits: Float32Array, k: number): number[] {
  const better = (a: number, b: number) => logits[a]! > logits[b]! || (logits[a] === logits[b] && a < b);
  // Min-heap (by `better`) of the best k seen so far; its root is the weakest kept id.
  const heap: number[] = [];
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && better(heap[m]!, heap[l]!)) m = l;
      if (r < heap.length && better(heap[m]!, heap[r]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let id = 0; id < logits.length; id++) {
    if (heap.length < k) {
      heap.push(id);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!better(heap[parent]!, heap[i]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    } else if (better(id, heap[0]!)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (better(a, b) ? -1 : 1));
}

/**
 * The candidate ids and their probabilities after temperature, top-k and top-p, highest first.
 * Exposed for tests; `sampleToken` draws from it.
 */
export function candidateDistribution(
  logits: Float32Array,
  params: Pick<NativeSamplingParams, "temperature" | "topK" | "topP">,
): { ids: number[]; probs: number[] } {
  const kept =
    params.topK > 0 && params.topK < logits.length
      ? topKIds(logits, params.topK)
      : Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const max = logits[kept[0]!]!;
  const weights = kept.map((id) => Math.exp((logits[id]! - max) / params.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  const probs = weights.map((w) => w / total);
  // top-p keeps the smallest prefix whose mass reaches p (at least one token).
  let cut = probs.length;
  if (params.topP < 1) {
    let mass = 0;
    for (let i = 0; i < probs.length; i++) {
      mass += probs[i]!;
      if (mass >= params.topP) {
        cut = i + 1;
        break;
      }
    }
  }
  const ids = kept.slice(0, Math.max(1, cut));
  const keptProbs = probs.slice(0, ids.length);
  const mass = keptProbs.reduce((a, b) => a + b, 0);
  return { ids, probs: keptProbs.map((p) => p / mass) };
}

// Reused across calls: one vocabulary-sized buffer instead of an allocation per sampled token.
let weightBuffer = new Float64Array(0);

/** Plain softmax sampling over the whole vocabulary (no truncation), without sorting. */
function sampleFull(logits: Float32Array, temperature: number, random: SeededRandom): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let total = 0;
  if (weightBuffer.length < logits.length) weightBuffer = new Float64Array(logits.length);
  const weights = weightBuffer;
  for (let i = 0; i < logits.length; i++) {
    weights[i] = Math.exp((logits[i]! - max) / temperature);
    total += weights[i]!;
  }
  let u = random.next() * total;
  for (let i = 0; i < logits.length; i++) {
    u -= weights[i]!;
    if (u < 0) return i;
  }
  return argmax(logits);
}

/** Draws the next token; temperature 0 is greedy. `logits` is modified by the repetition penalty. */
export function sampleToken(
  logits: Float32Array,
  context: ArrayLike<number>,
  params: NativeSamplingParams,
  random: SeededRandom,
): number {
  applyRepetitionPenalty(logits, context, params.repetitionPenalty);
  if (params.temperature <= 0) return argmax(logits);
  if (params.topK <= 0 && params.topP >= 1) return sampleFull(logits, params.temperature, random);
  const { ids, probs } = candidateDistribution(logits, params);
  let u = random.next();
  for (let i = 0; i < ids.length; i++) {
    u -= probs[i]!;
    if (u < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}
