import { sha512 } from "@noble/hashes/sha2.js";
import { ProtocolViolationError } from "./errors.js";
import { concatBytes } from "./hex.js";

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

function bitLength(n: number): number {
  return n < 2 ** 32 ? 32 - Math.clz32(n) : n.toString(2).length;
}

/** 32-bit words of a non-negative big integer, least significant first; zero gives [0]. */
function wordsOf(n: bigint): Uint32Array {
  const words: number[] = [];
  let rest = n;
  while (rest > 0n) {
    words.push(Number(rest & 0xffffffffn));
    rest >>= 32n;
  }
  return Uint32Array.from(words.length === 0 ? [0] : words);
}

/**
 * CPython's `random.Random` (Mersenne Twister MT19937 plus the pure-Python helpers of
 * `random.py`), reproduced draw for draw so that challenge indices and validator sampling
 * match the reference exactly (spec §2.5).
 */
export class PyRandom {
  private readonly mt = new Uint32Array(N);
  private index = N;

  private constructor(key: Uint32Array) {
    this.initByArray(key);
  }

  /** The init_by_array key CPython derives from a bytes seed: int(seed ‖ SHA-512(seed)) in 32-bit words. */
  static keyFromBytes(seed: Uint8Array): Uint32Array {
    const material = concatBytes([seed, sha512(seed)]);
    let n = 0n;
    for (const byte of material) n = (n << 8n) | BigInt(byte);
    return wordsOf(n);
  }

  /** `random.Random(seed)` for a `bytes` seed (version 2 seeding). */
  static fromBytes(seed: Uint8Array): PyRandom {
    return new PyRandom(PyRandom.keyFromBytes(seed));
  }

  /** `random.Random(seed)` for an `int` seed: the absolute value split into 32-bit words. */
  static fromInt(seed: number | bigint): PyRandom {
    if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
      throw new ProtocolViolationError(`PyRandom integer seed must be a safe integer, got ${seed}`, { seed });
    }
    const big = BigInt(seed);
    return new PyRandom(wordsOf(big < 0n ? -big : big));
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.index = N;
  }

  private initByArray(key: Uint32Array): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = ((mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = ((mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  private twist(): void {
    const mt = this.mt;
    for (let kk = 0; kk < N; kk++) {
      const y = (mt[kk]! & UPPER_MASK) | (mt[(kk + 1) % N]! & LOWER_MASK);
      mt[kk] = (mt[(kk + M) % N]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)) >>> 0;
    }
    this.index = 0;
  }

  genrandUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `getrandbits(k)` for 0 ≤ k ≤ 32. */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 32) {
      throw new ProtocolViolationError(`getrandbits takes 0 <= k <= 32, got ${k}; use getrandbitsBig`, { k });
    }
    if (k === 0) return 0;
    return this.genrandUint32() >>> (32 - k);
  }

  /** `getrandbits(k)` for any k ≥ 0: words are drawn least significant first, the last one truncated. */
  getrandbitsBig(k: number): bigint {
    if (!Number.isInteger(k) || k < 0) {
      throw new ProtocolViolationError(`getrandbits takes k >= 0, got ${k}`, { k });
    }
    let result = 0n;
    let shift = 0n;
    for (let remaining = k; remaining > 0; remaining -= 32) {
      let r = this.genrandUint32();
      if (remaining < 32) r >>>= 32 - remaining;
      result |= BigInt(r) << shift;
      shift += 32n;
    }
    return result;
  }

  /** `_randbelow_with_getrandbits(n)`: rejection sampling with bit_length(n) bits. */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new ProtocolViolationError(`randbelow needs a positive safe integer, got ${n}`, { n });
    }
    const k = bitLength(n);
    if (k <= 32) {
      let r = this.getrandbits(k);
      while (r >= n) r = this.getrandbits(k);
      return r;
    }
    const limit = BigInt(n);
    let r = this.getrandbitsBig(k);
    while (r >= limit) r = this.getrandbitsBig(k);
    return Number(r);
  }

  /** `random()`: 53-bit float from two draws, as CPython's genrand_res53. */
  random(): number {
    const a = this.genrandUint32() >>> 5;
    const b = this.genrandUint32() >>> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

  /** `shuffle(x)` in place (Fisher–Yates from the end). */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const tmp = x[i]!;
      x[i] = x[j]!;
      x[j] = tmp;
    }
  }

  /**
   * `sample(range(populationSize), k)`: the chosen indices in draw order, using CPython's
   * pool method for small populations and its rejection-set method otherwise.
   */
  sample(populationSize: number, k: number): number[] {
    const n = populationSize;
    if (!Number.isSafeInteger(n) || !Number.isSafeInteger(k) || k < 0 || k > n) {
      throw new ProtocolViolationError(`sample larger than population or is negative: k=${k}, n=${n}`, {
        populationSize,
        k,
      });
    }
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    const result: number[] = new Array(k);
    if (n <= setsize) {
      const pool = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j]!;
        pool[j] = pool[n - i - 1]!;
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = j;
      }
    }
    return result;
  }
}
