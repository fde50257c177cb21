// Python `str` semantics the validator relies on, reproduced for JS strings.
// Python counts code points, strips its own whitespace set and matches `\d`/`\s` the Unicode way;
// JS differs on each, so every rule that the reward depends on goes through these helpers.

/** Characters for which Python's `str.isspace()` is true (also what `re`'s `\s` matches on str). */
export const PY_WHITESPACE_CLASS =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const LEADING_WS = new RegExp(`^[${PY_WHITESPACE_CLASS}]+`, "u");
const TRAILING_WS = new RegExp(`[${PY_WHITESPACE_CLASS}]+$`, "u");

/** Python `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(LEADING_WS, "").replace(TRAILING_WS, "");
}

/** Python `len(str)`: the number of code points. */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Python `str.lower()`. JS applies the same full Unicode lower-case mapping (incl. final sigma). */
export function pyLower(s: string): string {
  return s.toLowerCase();
}

// Line boundaries of Python's `str.splitlines()`.
const LINE_BREAK = /\r\n|[\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029]/u;

/** Python `str.splitlines()` (no keepends): a trailing line break does not yield an empty last line. */
export function pySplitlines(s: string): string[] {
  if (s.length === 0) return [];
  const parts = s.split(LINE_BREAK);
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}
