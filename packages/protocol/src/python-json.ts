import { ProtocolViolationError } from "./errors.js";

/**
 * Python's `json` module as the reference validator applies it to window rows: `json.loads` of a
 * JSON-typed column, then `json.dumps(value, sort_keys=True, separators=(",", ":"))` (ASCII
 * escapes, NaN and Infinity allowed). Python tells ints from floats (`1` vs `1.0`), and that
 * changes the bytes, so decoded values keep the distinction.
 */

/** A Python float; a bare JS number or bigint is a Python int. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyValue =
  | null
  | boolean
  | string
  | number
  | bigint
  | PyFloat
  | readonly PyValue[]
  | ReadonlyMap<string, PyValue>;

/** A text `json.loads` refuses: the reference's download of the file then fails. */
export class PythonJsonError extends ProtocolViolationError {}

/** CPython refuses to parse an int literal of more digits than this (sys.int_info). */
const INT_MAX_STR_DIGITS = 4300;
const WS = /[ \t\n\r]*/y;
const NUMBER = /(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const LITERALS: readonly [string, PyValue][] = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["NaN", new PyFloat(Number.NaN)],
  ["Infinity", new PyFloat(Number.POSITIVE_INFINITY)],
  ["-Infinity", new PyFloat(Number.NEGATIVE_INFINITY)],
];
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** `json.loads(text)` with CPython's C scanner rules. */
export function parsePythonJson(text: string): PyValue {
  let pos = 0;
  const fail = (what: string): never => {
    throw new PythonJsonError(`json.loads refuses this text: ${what} at offset ${pos}`, {
      offset: pos,
      excerpt: text.slice(Math.max(0, pos - 20), pos + 20),
    });
  };
  const skipWs = () => {
    WS.lastIndex = pos;
    WS.exec(text);
    pos = WS.lastIndex;
  };
  const readString = (): string => {
    pos++; // opening quote
    let out = "";
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail("unterminated string");
      const c = text.charCodeAt(pos);
      if (c === 0x22) break;
      if (c < 0x20) fail("invalid control character in a string");
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      const e = text[pos + 1];
      if (e === "u") {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\uXXXX escape");
        out += String.fromCharCode(Number.parseInt(hex, 16));
        pos += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e];
        pos += 2;
      } else fail("invalid escape");
      start = pos;
    }
    out += text.slice(start, pos);
    pos++;
    return out;
  };
  const readNumber = (): PyValue => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail("expected a value");
    pos = NUMBER.lastIndex;
    if (m[2] !== undefined || m[3] !== undefined) return new PyFloat(Number(m[0]));
    if (m[1]!.replace("-", "").length > INT_MAX_STR_DIGITS) fail("integer literal beyond 4300 digits");
    const n = Number(m[1]);
    return Number.isSafeInteger(n) ? n + 0 : BigInt(m[1]!);
  };
  const readValue = (depth: number): PyValue => {
    // CPython's recursive scanner raises RecursionError at about this depth.
    if (depth > 1000) fail("nesting too deep");
    skipWs();
    const c = text[pos];
    if (c === '"') return readString();
    if (c === "{") {
      pos++;
      const obj = new Map<string, PyValue>();
      skipWs();
      if (text[pos] === "}") {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail("expected a property name in double quotes");
        const key = readString();
        skipWs();
        if (text[pos] !== ":") fail("expected ':'");
        pos++;
        obj.set(key, readValue(depth + 1));
        skipWs();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] !== "}") fail("expected ',' or '}'");
        pos++;
        return obj;
      }
    }
    if (c === "[") {
      pos++;
      const list: PyValue[] = [];
      skipWs();
      if (text[pos] === "]") {
        pos++;
        return list;
      }
      for (;;) {
        list.push(readValue(depth + 1));
        skipWs();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] !== "]") fail("expected ',' or ']'");
        pos++;
        return list;
      }
    }
    for (const [word, value] of LITERALS) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    return readNumber();
  };

  if (text.charCodeAt(0) === 0xfeff) fail("unexpected UTF-8 BOM");
  const value = readValue(0);
  skipWs();
  if (pos !== text.length) fail("extra data");
  return value;
}

/** `repr(float)`: the shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  // Between 1e-4 and 1e16 JS prints the same shortest digits in fixed notation.
  const abs = Math.abs(x);
  if (abs >= 1e-4 && abs < 1e16) {
    const s = String(x);
    return Number.isInteger(x) ? `${s}.0` : s;
  }
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "Infinity";
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const e = Number(exp);
  if (e < -4 || e >= 16) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : "";
    return `${sign}${digits[0]}${frac}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, "0");
  const frac = digits.slice(e + 1);
  return `${sign}${whole}.${frac.length > 0 ? frac : "0"}`;
}

const PLAIN_ASCII = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Record<number, string> = {
  34: '\\"',
  92: "\\\\",
  8: "\\b",
  12: "\\f",
  10: "\\n",
  13: "\\r",
  9: "\\t",
};

/** A JSON string as `json.dumps` writes it with `ensure_ascii=True`. */
export function pythonJsonString(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    // UTF-16 code units: an astral character comes out as its surrogate pair, as in Python.
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** Python compares str keys by code point, which differs from UTF-16 order above U+D7FF. */
function codePointCompare(a: string, b: string): number {
  const aChars = a[Symbol.iterator]();
  const bChars = b[Symbol.iterator]();
  for (;;) {
    const x = aChars.next();
    const y = bChars.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** `json.dumps(value, sort_keys=True, separators=(",", ":"))`. */
export function pythonJsonDumpsSorted(value: PyValue): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return pythonJsonString(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new ProtocolViolationError(
        `a Python int must be a safe integer here, got ${value}; use PyFloat`,
        {
          value,
        },
      );
    }
    return String(value);
  }
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumpsSorted).join(",")}]`;
  const map = value as ReadonlyMap<string, PyValue>;
  const keys = [...map.keys()].sort(codePointCompare);
  return `{${keys.map((k) => `${pythonJsonString(k)}:${pythonJsonDumpsSorted(map.get(k)!)}`).join(",")}}`;
}
