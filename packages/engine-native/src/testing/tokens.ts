/**
 * Deterministic xorshift32 token ids in [0, vocab): the same seed gives the same sequence in every
 * test that feeds a random model, so figures can be compared across packages.
 */
export function tokenSeq(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % vocab;
  });
}
