import {
  PRIME_Q,
  PROOF_NUM_BUCKETS,
  PROOF_SKETCH_TOLERANCE_BASE,
  PROOF_SKETCH_TOLERANCE_GROWTH,
  PROOF_TOPK,
} from "./constants.js";
import { ProtocolViolationError } from "./errors.js";

const DEADZONE = 1e-6;
/** The reference computes `PROOF_NUM_BUCKETS / 10.0` in float64. */
const BUCKET_SCALE = PROOF_NUM_BUCKETS / 10.0;
const MAX_BUCKET = PROOF_NUM_BUCKETS - 1;

/** Signed log-magnitude bucket of one activation, in [−7, 7] (spec §2.6). */
export function logMagnitudeBucket(x: number): number {
  if (Number.isNaN(x)) return 0;
  if (x === Number.POSITIVE_INFINITY) return MAX_BUCKET;
  if (x === Number.NEGATIVE_INFINITY) return -MAX_BUCKET;
  const magnitude = Math.abs(x);
  if (magnitude < DEADZONE) return 0;
  const b = Math.min(MAX_BUCKET, Math.max(0, Math.trunc(Math.log2(magnitude + 1.0) * BUCKET_SCALE)));
  // Avoid returning −0, which would differ from 0 under Object.is.
  if (b === 0) return 0;
  return x >= 0 ? b : -b;
}

/**
 * Whether magnitude `a` ranks above `b` in the top-k. NaN ranks above everything, as in
 * torch's topk; equal magnitudes do not displace each other, so the lower index wins.
 */
function ranksAbove(a: number, b: number): boolean {
  if (Number.isNaN(a)) return !Number.isNaN(b);
  if (Number.isNaN(b)) return false;
  return a > b;
}

/**
 * Indices of the PROOF_TOPK largest |h| in `h[offset, offset+length)`, relative to `offset`,
 * sorted ascending by index (spec §2.7 step 1–2).
 */
export function topKIndices(h: ArrayLike<number>, offset = 0, length = h.length - offset): number[] {
  const k = Math.min(PROOF_TOPK, length);
  const idx = new Array<number>(k);
  const mag = new Array<number>(k);
  let filled = 0;
  for (let i = 0; i < length; i++) {
    const m = Math.abs(h[offset + i]!);
    if (filled === k && !ranksAbove(m, mag[k - 1]!)) continue;
    let p = filled < k ? filled : k - 1;
    while (p > 0 && ranksAbove(m, mag[p - 1]!)) {
      idx[p] = idx[p - 1]!;
      mag[p] = mag[p - 1]!;
      p--;
    }
    idx[p] = i;
    mag[p] = m;
    if (filled < k) filled++;
  }
  return idx.sort((a, b) => a - b);
}

function checkRVec(rVec: Int32Array): void {
  if (rVec.length !== PROOF_TOPK) {
    throw new ProtocolViolationError(`r_vec must have ${PROOF_TOPK} coefficients, got ${rVec.length}`, {
      length: rVec.length,
    });
  }
}

function dotAt(h: ArrayLike<number>, offset: number, length: number, rVec: Int32Array): number {
  const selected = topKIndices(h, offset, length);
  let s = 0;
  for (let j = 0; j < selected.length; j++) s += logMagnitudeBucket(h[offset + selected[j]!]!) * rVec[j]!;
  return s;
}

/** Python's non-negative `%` for the sketch modulus. */
export function modPrimeQ(s: number): number {
  const r = s % PRIME_Q;
  return r < 0 ? r + PRIME_Q : r + 0;
}

/** Σ bucket(h[idx_j]) · r_j over the index-sorted top-16, before the modulo. */
export function sketchDot(h: ArrayLike<number>, rVec: Int32Array): number {
  checkRVec(rVec);
  return dotAt(h, 0, h.length, rVec);
}

/** The committed sketch of one hidden vector, in [0, PRIME_Q) (spec §2.7). */
export function sketchOfHidden(h: ArrayLike<number>, rVec: Int32Array): number {
  return modPrimeQ(sketchDot(h, rVec));
}

/**
 * Sketches of every row of a row-major [rows, dModel] hidden-state matrix: the CPU reference
 * for a whole sequence.
 */
export function sketchesOfRows(hidden: ArrayLike<number>, dModel: number, rVec: Int32Array): number[] {
  checkRVec(rVec);
  if (!Number.isInteger(dModel) || dModel <= 0 || hidden.length % dModel !== 0) {
    throw new ProtocolViolationError(
      `hidden-state length ${hidden.length} is not a multiple of d_model ${dModel}`,
      { length: hidden.length, dModel },
    );
  }
  const rows = hidden.length / dModel;
  const out = new Array<number>(rows);
  for (let r = 0; r < rows; r++) out[r] = modPrimeQ(dotAt(hidden, r * dModel, dModel, rVec));
  return out;
}

/** ⌊6000 + 5.0·√p⌋ for absolute token position p (spec §2.8). */
export function sketchTolerance(position: number): number {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new ProtocolViolationError(`sketch position must be a non-negative integer, got ${position}`, {
      position,
    });
  }
  return Math.floor(PROOF_SKETCH_TOLERANCE_BASE + PROOF_SKETCH_TOLERANCE_GROWTH * Math.sqrt(position));
}

/** min(|a − b|, PRIME_Q − |a − b|): distance on the ring of sketch values. */
export function sketchDistance(a: number, b: number): number {
  const d = Math.abs(a - b);
  return Math.min(d, PRIME_Q - d);
}

export function sketchWithinTolerance(validator: number, miner: number, position: number): boolean {
  return sketchDistance(validator, miner) <= sketchTolerance(position);
}
