import {
  generateRVec,
  logMagnitudeBucket,
  PRIME_Q,
  PROOF_TOPK,
  sketchDistance,
  sketchDot,
  sketchesOfRows,
  sketchOfHidden,
  sketchTolerance,
  sketchWithinTolerance,
  topKIndices,
} from "@grail/protocol";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const R_VEC = generateRVec("feedbeefcafebabe1234567890abcdef");
const R_VEC_WITH_ZERO = generateRVec("00002825");

describe("logMagnitudeBucket (spec §11.4)", () => {
  const table: [number, number][] = [
    [0.0, 0],
    [-0.0, 0],
    [1e-7, 0],
    [-1e-7, 0],
    [9.99e-7, 0],
    [1e-6, 0],
    [0.5, 0],
    [1.0, 0],
    [1.378, 0],
    [1.3785, 1],
    [-1.3785, -1],
    [2.0, 1],
    [4.657, 2],
    [4.66, 2],
    [12.45, 2],
    [12.46, 3],
    [31.0, 4],
    [-31.0, -4],
    [75.1, 4],
    [75.11, 5],
    [180.0, 5],
    [180.03, 6],
    [429.5, 6],
    [429.6, 7],
    [1000.0, 7],
    [-1000.0, -7],
    [Number.POSITIVE_INFINITY, 7],
    [Number.NEGATIVE_INFINITY, -7],
    [Number.NaN, 0],
  ];
  test.each(table)("bucket(%d) = %i", (x, b) => {
    expect(Object.is(logMagnitudeBucket(x), b)).toBe(true);
  });

  test("property: NaN → 0, ±∞ → ±7", () => {
    fc.assert(
      fc.property(fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), (x) => {
        const expected = Number.isNaN(x) ? 0 : x > 0 ? 7 : -7;
        return logMagnitudeBucket(x) === expected;
      }),
    );
  });

  test("property: the deadzone |x| < 1e−6 is bucket 0 (never −0)", () => {
    fc.assert(
      fc.property(fc.double({ min: -0.99999e-6, max: 0.99999e-6, noNaN: true }), (x) =>
        Object.is(logMagnitudeBucket(x), 0),
      ),
    );
  });

  test("property: sign symmetry, range and monotonicity in |x|", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), (x, y) => {
        const bx = logMagnitudeBucket(x);
        expect(Object.is(logMagnitudeBucket(-x), bx === 0 ? 0 : -bx)).toBe(true);
        expect(bx).toBeGreaterThanOrEqual(-7);
        expect(bx).toBeLessThanOrEqual(7);
        if (Math.abs(x) <= Math.abs(y)) {
          expect(Math.abs(bx)).toBeLessThanOrEqual(Math.abs(logMagnitudeBucket(y)));
        }
      }),
    );
  });
});

describe("sketch (spec §11.5)", () => {
  test("h16: all selected, sketch 84; negated 2147483563; distance 168", () => {
    const h16 = [
      3.5, -2.0, 0.25, 100.0, -450.0, 7.0, -13.0, 31.5, 0.0, -1.5, 200.0, -80.0, 5.0, -0.75, 1.4, 12.0,
    ];
    expect(h16.map(logMagnitudeBucket)).toEqual([1, -1, 0, 5, -7, 2, -3, 4, 0, -1, 6, -5, 2, 0, 1, 2]);
    expect(sketchDot(h16, R_VEC)).toBe(84);
    expect(sketchOfHidden(h16, R_VEC)).toBe(84);
    const neg = h16.map((x) => -x);
    expect(sketchDot(neg, R_VEC)).toBe(-84);
    expect(sketchOfHidden(neg, R_VEC)).toBe(2147483563);
    expect(sketchDistance(84, 2147483563)).toBe(168);
  });

  test("h32: selected indices, buckets, sketch 2092", () => {
    const h32 = Array.from({ length: 32 }, (_, i) => (((37 * i) % 23) - 11) * 1.7 ** (i % 9));
    const idx = topKIndices(h32);
    expect(idx).toEqual([3, 5, 6, 7, 8, 13, 15, 16, 17, 21, 23, 24, 25, 26, 30, 31]);
    expect(idx.map((i) => logMagnitudeBucket(h32[i]!))).toEqual([
      4, -5, 5, -6, 7, 5, -6, 6, -6, 4, -5, 4, -6, 7, -3, 5,
    ]);
    expect(sketchOfHidden(h32, R_VEC)).toBe(2092);
    expect(sketchOfHidden(Float32Array.from(h32), R_VEC)).toBe(2092);
  });

  test("sketchesOfRows sketches each row of a matrix", () => {
    const h16 = [
      3.5, -2.0, 0.25, 100.0, -450.0, 7.0, -13.0, 31.5, 0.0, -1.5, 200.0, -80.0, 5.0, -0.75, 1.4, 12.0,
    ];
    const matrix = Float32Array.from([...h16, ...h16.map((x) => -x)]);
    expect(sketchesOfRows(matrix, 16, R_VEC)).toEqual([84, 2147483563]);
    expect(() => sketchesOfRows(matrix, 15, R_VEC)).toThrow(/multiple of d_model/);
    expect(() => sketchOfHidden(h16, new Int32Array(3))).toThrow(/16 coefficients/);
  });

  test("tolerances", () => {
    const expected: [number, number][] = [
      [0, 6000],
      [1, 6005],
      [2, 6007],
      [10, 6015],
      [100, 6050],
      [1000, 6158],
      [4096, 6320],
      [8192, 6452],
      [16384, 6640],
    ];
    for (const [p, tol] of expected) expect(sketchTolerance(p)).toBe(tol);
    expect(sketchWithinTolerance(0, PRIME_Q - 6000, 0)).toBe(true);
    expect(sketchWithinTolerance(0, PRIME_Q - 6001, 0)).toBe(false);
    expect(sketchWithinTolerance(100, 6150, 100)).toBe(true);
    expect(sketchWithinTolerance(100, 6151, 100)).toBe(false);
  });
});

/** Reference top-k by full sort: magnitude descending (NaN first), then index ascending. */
function referenceTopK(h: readonly number[]): number[] {
  const key = (x: number) => (Number.isNaN(x) ? Number.POSITIVE_INFINITY : Math.abs(x));
  const rank = (x: number) => (Number.isNaN(x) ? 1 : 0);
  return h
    .map((_, i) => i)
    .sort((a, b) => rank(h[b]!) - rank(h[a]!) || key(h[b]!) - key(h[a]!) || a - b)
    .slice(0, Math.min(PROOF_TOPK, h.length))
    .sort((a, b) => a - b);
}

const activation = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -2000, max: 2000, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -0, 1e-7, -1e-7, 31, -31, 1.5, -1.5) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  },
);

describe("sketch properties", () => {
  test("sketch is always an integer in [0, PRIME_Q)", () => {
    fc.assert(
      fc.property(fc.array(activation, { minLength: 16, maxLength: 64 }), fc.string(), (h, seed) => {
        const s = sketchOfHidden(h, generateRVec(Buffer.from(seed).toString("hex") || "00"));
        return Number.isSafeInteger(s) && s >= 0 && s < PRIME_Q;
      }),
    );
  });

  test("selection equals a full sort with ties broken by lower index", () => {
    const tied = fc.array(fc.constantFrom(1, -1, 2, -2, 3, Number.NaN, 0), { minLength: 0, maxLength: 40 });
    fc.assert(
      fc.property(fc.oneof(tied, fc.array(activation, { maxLength: 60 })), (h) => {
        expect(topKIndices(h)).toEqual(referenceTopK(h));
      }),
    );
  });

  test("a tie at the 16th/17th place keeps the lower index", () => {
    const h = Array.from({ length: 17 }, () => 5);
    expect(topKIndices(h)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    const straddle = [...Array.from({ length: 15 }, () => 100), -31, 31];
    expect(topKIndices(straddle)).toContain(15);
    expect(topKIndices(straddle)).not.toContain(16);
  });

  test("without ties, the selected values do not depend on their order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 16, maxLength: 50 }),
        fc.array(fc.boolean(), { minLength: 50, maxLength: 50 }),
        fc.infiniteStream(fc.nat()),
        (mags, signs, stream) => {
          const h = mags.map((m, i) => (signs[i] ? m : -m) / 16);
          const shuffled = [...h];
          const draws = stream.take(shuffled.length);
          let k = shuffled.length;
          for (const d of draws) {
            k--;
            if (k <= 0) break;
            const j = d % (k + 1);
            [shuffled[k], shuffled[j]] = [shuffled[j]!, shuffled[k]!];
          }
          const pick = (v: number[]) =>
            topKIndices(v)
              .map((i) => v[i]!)
              .sort((a, b) => a - b);
          expect(pick(shuffled)).toEqual(pick(h));
        },
      ),
    );
  });

  test("negating h negates the dot (sign symmetry)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true }), { minLength: 16, maxLength: 48 }), (h) => {
        const neg = h.map((x) => -x);
        expect(sketchDot(neg, R_VEC) + sketchDot(h, R_VEC)).toBe(0);
        expect((sketchOfHidden(h, R_VEC) + sketchOfHidden(neg, R_VEC)) % PRIME_Q).toBe(0);
      }),
    );
  });

  test("the coefficient from −32768 is 0: the last selected bucket never matters", () => {
    expect(R_VEC_WITH_ZERO[15]).toBe(0);
    fc.assert(
      fc.property(fc.array(activation, { minLength: 16, maxLength: 16 }), activation, (h, replacement) => {
        const changed = [...h];
        changed[15] = replacement;
        return sketchOfHidden(h, R_VEC_WITH_ZERO) === sketchOfHidden(changed, R_VEC_WITH_ZERO);
      }),
    );
  });

  test("distance is symmetric, at most PRIME_Q/2 and zero only for equal sketches", () => {
    const sketch = fc.integer({ min: 0, max: PRIME_Q - 1 });
    fc.assert(
      fc.property(sketch, sketch, (a, b) => {
        const d = sketchDistance(a, b);
        expect(d).toBe(sketchDistance(b, a));
        expect(d).toBeLessThanOrEqual(PRIME_Q / 2);
        expect(d >= 0 && (d === 0) === (a === b)).toBe(true);
      }),
    );
  });
});
