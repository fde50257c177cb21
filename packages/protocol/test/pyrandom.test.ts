import { bytesToHex, challengeIndices, challengeMaterial, PyRandom, utf8 } from "@grail/protocol";
import { describe, expect, test } from "vitest";

// Expected values below were produced by CPython 3.11's `random` module.
describe("PyRandom.fromInt matches CPython", () => {
  const cases: [number | bigint, number[], number][] = [
    [42, [2746317213, 478163327, 107420369], 0.7415504997598329],
    [0, [3626764237, 1654615998, 3255389356], 0.890243920837131],
    [1, [577090037, 2444712010, 3639700191], 0.8022650611681835],
    [4294967301, [675479763, 2085189291, 1213270837], 0.8899258643720599],
    [-7, [1390851128, 4071050724, 647892279], 0.3948234964231735],
    [12345678901234567890n, [2199100970, 3695432519, 4002396509], 0.546796818392814],
  ];
  test.each(cases)("seed %s", (seed, words, next) => {
    const r = PyRandom.fromInt(seed);
    expect([r.getrandbits(32), r.getrandbits(32), r.getrandbits(32)]).toEqual(words);
    expect(r.random()).toBe(next);
  });

  test("shuffle(list(range(20)))", () => {
    const x = Array.from({ length: 20 }, (_, i) => i);
    PyRandom.fromInt(42).shuffle(x);
    expect(x).toEqual([19, 5, 14, 4, 9, 13, 15, 18, 6, 12, 17, 10, 1, 11, 2, 16, 7, 8, 0, 3]);
  });

  test("sample(range(1000), 5) uses the set method", () => {
    expect(PyRandom.fromInt(42).sample(1000, 5)).toEqual([654, 114, 25, 759, 281]);
  });

  test("sample(range(20), 10) uses the pool method", () => {
    expect(PyRandom.fromInt(42).sample(20, 10)).toEqual([3, 0, 8, 7, 16, 2, 11, 1, 10, 17]);
  });

  test("getrandbits beyond 32 bits and randbelow beyond 2^32", () => {
    const r = PyRandom.fromInt(7);
    expect(r.getrandbitsBig(70)).toBe(183505726384713937976n);
    expect(r.getrandbits(5)).toBe(12);
    expect(r.getrandbitsBig(64)).toBe(890727360438182992n);
    expect(r.randbelow(10 ** 12)).toBe(902254243635);
    const s = PyRandom.fromInt(42);
    expect([1, 2, 3, 1000, 2 ** 32, 2 ** 40 + 3].map((n) => s.randbelow(n))).toEqual([
      0, 0, 2, 281, 1051802512, 191320892468,
    ]);
  });

  test("bytes seeding: random.Random(b'abc')", () => {
    const r = PyRandom.fromBytes(utf8("abc"));
    expect([r.genrandUint32(), r.genrandUint32(), r.genrandUint32()]).toEqual([
      3315820543, 4246262336, 2397318194,
    ]);
  });

  test("argument errors", () => {
    const r = PyRandom.fromInt(1);
    expect(() => r.randbelow(0)).toThrow(/positive/);
    expect(() => r.getrandbits(33)).toThrow(/getrandbitsBig/);
    expect(() => r.sample(3, 4)).toThrow(/larger than population/);
    expect(r.getrandbits(0)).toBe(0);
  });
});

describe("challenge indices (spec §11.3)", () => {
  const T1 = Array.from({ length: 40 }, (_, i) => 1000 + i);
  const R = "feedbeefcafebabe1234567890abcdef";

  test("material and MT key", () => {
    const material = challengeMaterial(T1, R);
    expect(bytesToHex(material)).toBe("45618390cdd71153aa1c5e16a26e24532767bfbbf39f327b04528b66a6b6910e");
    const key = PyRandom.keyFromBytes(material);
    expect(key).toHaveLength(24);
    expect(key[0]).toBe(0x9e6009d5);
    expect(key[1]).toBe(0x07a9ae58);
    expect(key[23]).toBe(0x45618390);
  });

  test("first genrand outputs and randbelow draws", () => {
    const material = challengeMaterial(T1, R);
    const r = PyRandom.fromBytes(material);
    expect(Array.from({ length: 5 }, () => r.genrandUint32())).toEqual([
      4222281563, 1569710365, 2558046798, 1052339758, 961213734,
    ]);
    const s = PyRandom.fromBytes(material);
    expect([s.randbelow(40), s.randbelow(39), s.randbelow(38)]).toEqual([23, 38, 15]);
  });

  const relative: [number, number[]][] = [
    [
      40,
      [
        0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 24, 25, 26, 27, 28, 29, 30, 31, 32,
        33, 34, 35, 36, 37,
      ],
    ],
    [
      320,
      [
        0, 13, 27, 29, 38, 45, 46, 47, 57, 68, 72, 79, 82, 113, 122, 169, 179, 191, 200, 212, 231, 252, 254,
        267, 276, 278, 283, 299, 300, 302, 306, 307,
      ],
    ],
    [
      321,
      [
        4, 9, 19, 20, 21, 24, 32, 34, 36, 62, 81, 98, 110, 114, 120, 123, 125, 132, 135, 180, 182, 185, 187,
        190, 236, 246, 256, 269, 275, 281, 304, 312,
      ],
    ],
    [
      1000,
      [
        9, 39, 40, 43, 48, 64, 68, 124, 196, 229, 250, 265, 271, 361, 365, 371, 374, 493, 512, 551, 609, 740,
        779, 789, 823, 838, 862, 888, 916, 964, 973, 993,
      ],
    ],
  ];
  test.each(relative)("L = %i", (L, expected) => {
    expect(challengeIndices(T1, R, 0, L)).toEqual(expected);
  });

  const R2 = "ea87bb091f4bf092669c9ece3cf6668f2027f59240d75dbabdf023cc3f27e1ee";

  test("in-range form, T2 (P = 10, C = 40)", () => {
    const T2 = [151644, 151645, 151646, 151647, 151648, 151649, 151650, 151644, 151645, 151646].concat(
      Array.from({ length: 40 }, (_, i) => (37 * i) % 151000),
    );
    expect(challengeIndices(T2, R2, 10, 50)).toEqual([
      10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 28, 30, 31, 32, 34, 36, 37, 38, 39, 40, 42,
      43, 44, 46, 47, 48, 49,
    ]);
  });

  test("in-range form, T3 (P = 100, C = 500)", () => {
    const T3 = new Array(600).fill(7);
    expect(challengeIndices(T3, R2, 100, 600)).toEqual([
      108, 116, 119, 195, 201, 228, 236, 258, 310, 327, 328, 351, 371, 382, 399, 400, 416, 418, 421, 446, 451,
      458, 473, 480, 483, 489, 506, 513, 518, 524, 561, 593,
    ]);
  });

  test("short and empty ranges", () => {
    expect(challengeIndices(T1, R, 5, 5)).toEqual([]);
    expect(challengeIndices(T1, R, 10, 15)).toEqual([10, 11, 12, 13, 14]);
    const four = challengeIndices(T1, R, 0, 40, 4);
    expect(new Set(four).size).toBe(4);
    expect(four.every((i) => i >= 0 && i < 40)).toBe(true);
  });
});
