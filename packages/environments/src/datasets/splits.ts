import { PyRandom } from "@grail/protocol";
import { DatasetIntegrityError } from "../errors.js";
import type { Gsm8kRow, MathRow, MbppRow } from "./catalog.js";

/** Seed of every `random.Random(42)` the reference uses for its holdouts and redistribution. */
export const SPLIT_SEED = 42;

/** Derivation parameters; the defaults are the production values (spec §2), tests shrink them. */
export interface SplitParams {
  /** GSM8K rows held out of HF train as `val` (250). */
  readonly gsm8kValSize: number;
  /** MATH rows held out of HF train as `val`, stratified by subject (500). */
  readonly mathValSize: number;
  /** Share of MBPP's HF test rows appended to `train`; the rest go to `validation` (0.8). */
  readonly mbppTestToTrainFraction: number;
}

export const PRODUCTION_SPLIT_PARAMS: SplitParams = {
  gsm8kValSize: 250,
  mathValSize: 500,
  mbppTestToTrainFraction: 0.8,
};

/** `Random(42).shuffle(list(range(n)))`. */
export function shuffledRange(n: number, rng: PyRandom = PyRandom.fromInt(SPLIT_SEED)): number[] {
  const xs = Array.from({ length: n }, (_, i) => i);
  rng.shuffle(xs);
  return xs;
}

/** GSM8K: the HF-train indices that form `val` (the first `valSize` shuffled ones). */
export function gsm8kValIndices(trainRows: number, valSize: number): Set<number> {
  return new Set(shuffledRange(trainRows).slice(0, valSize));
}

/** Partition in original row order, the way the reference builds both lists. */
function partition<T>(rows: readonly T[], held: Set<number>): { kept: T[]; held: T[] } {
  const kept: T[] = [];
  const out: T[] = [];
  rows.forEach((row, i) => {
    (held.has(i) ? out : kept).push(row);
  });
  return { kept, held: out };
}

export function deriveGsm8k(
  split: "train" | "val" | "test",
  tables: { train: readonly Gsm8kRow[]; test: readonly Gsm8kRow[] },
  params: SplitParams,
): readonly Gsm8kRow[] {
  if (split === "test") return tables.test;
  const { kept, held } = partition(tables.train, gsm8kValIndices(tables.train.length, params.gsm8kValSize));
  if (held.length !== params.gsm8kValSize) {
    throw new DatasetIntegrityError(
      "gsm8k",
      "train",
      `val holds ${held.length} rows, expected ${params.gsm8kValSize}`,
    );
  }
  return split === "train" ? kept : held;
}

/**
 * MATH: per subject, in the fixed order and with ONE shared Random(42), the indices held out as
 * `val`. Each subject but the last gets `min(round(valSize · len/total), len, remaining)`.
 */
export function mathValIndices(subjectSizes: readonly number[], valSize: number): Set<number>[] {
  const rng = PyRandom.fromInt(SPLIT_SEED);
  const total = subjectSizes.reduce((a, b) => a + b, 0);
  let remaining = valSize;
  return subjectSizes.map((len, s) => {
    const isLast = s === subjectSizes.length - 1;
    // No .5 case occurs at production sizes, so Math.round agrees with Python's banker's round.
    const nVal = isLast ? remaining : Math.min(pyRound((valSize * len) / total), len, remaining);
    const order = shuffledRange(len, rng);
    remaining -= nVal;
    return new Set(order.slice(0, nVal));
  });
}

/** Python 3 `round(x)`: half to even. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function deriveMath(
  split: "train" | "val" | "test",
  subjects: readonly { train: readonly MathRow[]; test: readonly MathRow[] }[],
  params: SplitParams,
): readonly MathRow[] {
  if (split === "test") return subjects.flatMap((s) => s.test);
  const held = mathValIndices(
    subjects.map((s) => s.train.length),
    params.mathValSize,
  );
  const train: MathRow[] = [];
  const val: MathRow[] = [];
  subjects.forEach((s, i) => {
    const parts = partition(s.train, held[i] as Set<number>);
    train.push(...parts.kept);
    val.push(...parts.held);
  });
  if (val.length !== params.mathValSize) {
    throw new DatasetIntegrityError(
      "math",
      "train",
      `val holds ${val.length} rows, expected ${params.mathValSize}`,
    );
  }
  return split === "train" ? train : val;
}

/** MBPP: which HF-test positions go to train and to validation, each in shuffled order. */
export function mbppRedistribution(
  testRows: number,
  fraction: number,
): { toTrain: number[]; toValidation: number[] } {
  const order = shuffledRange(testRows);
  const n = Math.trunc(testRows * fraction);
  return { toTrain: order.slice(0, n), toValidation: order.slice(n) };
}

export function deriveMbpp(
  split: "train" | "validation",
  tables: { train: readonly MbppRow[]; validation: readonly MbppRow[]; test: readonly MbppRow[] },
  params: SplitParams,
): readonly MbppRow[] {
  const { toTrain, toValidation } = mbppRedistribution(tables.test.length, params.mbppTestToTrainFraction);
  const pick = (idx: number[]) => idx.map((i) => tables.test[i] as MbppRow);
  return split === "train"
    ? [...tables.train, ...pick(toTrain)]
    : [...tables.validation, ...pick(toValidation)];
}
