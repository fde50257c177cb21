import { wordlist } from "@scure/bip39/wordlists/english.js";

const BIP39_WORDS: ReadonlySet<string> = new Set(wordlist);

/** BIP39 phrases have 12–24 words; a run this long of wordlist words is treated as key material. */
export const MNEMONIC_MIN_WORDS = 12;

/**
 * Finds runs of at least 12 consecutive BIP39 English words separated only by whitespace and
 * replaces each run with `mask`. Ordinary prose does not trigger this: function words such as
 * "the", "is", "to", "and" are not in the wordlist, so twelve wordlist words in a row only
 * occur in a mnemonic.
 */
export function maskMnemonics(text: string, mask: string): string {
  const words = [...text.matchAll(/[A-Za-z]+/g)];
  if (words.length < MNEMONIC_MIN_WORDS) return text;
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  let runCount = 0;
  let prevEnd = -1;
  const closeRun = () => {
    if (runCount >= MNEMONIC_MIN_WORDS) runs.push([runStart, prevEnd]);
    runStart = -1;
    runCount = 0;
  };
  for (const m of words) {
    const start = m.index;
    const end = start + m[0].length;
    const isWord = BIP39_WORDS.has(m[0].toLowerCase());
    const contiguous = runCount > 0 && /^\s+$/.test(text.slice(prevEnd, start));
    if (isWord && contiguous) {
      runCount += 1;
    } else {
      closeRun();
      if (isWord) {
        runStart = start;
        runCount = 1;
      }
    }
    prevEnd = end;
  }
  closeRun();
  if (runs.length === 0) return text;
  let out = "";
  let cursor = 0;
  for (const [s, e] of runs) {
    out += text.slice(cursor, s) + mask;
    cursor = e;
  }
  return out + text.slice(cursor);
}
