// Strategies (b) and (c) of the MATH equality without Python. Strategy (b) in the reference is
// `simplify(parse_expr(p) - parse_expr(g)) == 0`; this evaluator reproduces it only for arithmetic
// on numeric literals: integers and fractions are exact rationals (sympy Integer/Rational),
// decimals are 53-bit floats (sympy Float), with + - * / ** and ^ (Python XOR on integers) and
// parentheses. Anything else — symbols, functions (sqrt, pi), factorials, LaTeX, brackets,
// integer division — is "undecided" (null), which callers treat as not equal and report.

import { EnvironmentError } from "../errors.js";

type Value =
  | { readonly kind: "rat"; readonly n: bigint; readonly d: bigint }
  | { readonly kind: "float"; readonly v: number };

class Undecided extends EnvironmentError {}

const MAX_EXPONENT = 4096n;
const MAX_DIGITS = 20_000;

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function rat(n: bigint, d: bigint): Value {
  if (d === 0n) throw new Undecided("division by zero");
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d) || 1n;
  const r = { kind: "rat" as const, n: n / g, d: d / g };
  if (r.n.toString().length + r.d.toString().length > MAX_DIGITS) throw new Undecided("too large");
  return r;
}

function toFloat(v: Value): number {
  return v.kind === "float" ? v.v : Number(v.n) / Number(v.d);
}

function binary(op: string, a: Value, b: Value): Value {
  if (op === "^") {
    if (a.kind === "rat" && b.kind === "rat" && a.d === 1n && b.d === 1n) return rat(a.n ^ b.n, 1n);
    throw new Undecided("xor of non-integers");
  }
  if (a.kind === "rat" && b.kind === "rat") {
    switch (op) {
      case "+":
        return rat(a.n * b.d + b.n * a.d, a.d * b.d);
      case "-":
        return rat(a.n * b.d - b.n * a.d, a.d * b.d);
      case "*":
        return rat(a.n * b.n, a.d * b.d);
      case "/":
        return rat(a.n * b.d, a.d * b.n);
      case "**": {
        if (b.d !== 1n) throw new Undecided("non-integer power");
        const e = b.n < 0n ? -b.n : b.n;
        if (e > MAX_EXPONENT) throw new Undecided("exponent too large");
        if (b.n < 0n && a.n === 0n) throw new Undecided("zero to a negative power");
        const n = a.n ** e;
        const d = a.d ** e;
        return b.n < 0n ? rat(d, n) : rat(n, d);
      }
    }
  }
  const x = toFloat(a);
  const y = toFloat(b);
  let r: number;
  switch (op) {
    case "+":
      r = x + y;
      break;
    case "-":
      r = x - y;
      break;
    case "*":
      r = x * y;
      break;
    case "/":
      if (y === 0) throw new Undecided("division by zero");
      r = x / y;
      break;
    case "**":
      if (x < 0 && !Number.isInteger(y)) throw new Undecided("complex power");
      r = x ** y;
      break;
    default:
      throw new Undecided(`operator ${op}`);
  }
  if (!Number.isFinite(r)) throw new Undecided("overflow");
  return { kind: "float", v: r };
}

const TOKEN =
  /(\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?(?:e[+-]?\d(?:_?\d)*)?|\.\d(?:_?\d)*(?:e[+-]?\d(?:_?\d)*)?)|(\*\*|[-+*/^()])/y;

function tokenize(s: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < s.length) {
    const m = TOKEN.exec(s);
    if (!m) throw new Undecided(`unsupported text at ${TOKEN.lastIndex}`);
    out.push(m[0]);
  }
  return out;
}

function literal(tok: string): Value {
  const t = tok.replaceAll("_", "");
  if (/^\d+$/.test(t)) {
    // Python rejects leading zeros on non-zero integer literals; sympy then fails to parse.
    if (t.length > 1 && t[0] === "0" && /[1-9]/.test(t)) throw new Undecided("leading zero");
    return rat(BigInt(t), 1n);
  }
  return { kind: "float", v: Number(t) };
}

/** Parses with Python's precedence: ^ < (+ -) < (* /) < unary < ** (right-assoc, binds unary on its right). */
function evaluate(s: string): Value {
  const toks = tokenize(s);
  let i = 0;
  const peek = () => toks[i];
  const xor = (): Value => {
    let v = sum();
    while (peek() === "^") {
      i++;
      v = binary("^", v, sum());
    }
    return v;
  };
  const sum = (): Value => {
    let v = product();
    for (let t = peek(); t === "+" || t === "-"; t = peek()) {
      i++;
      v = binary(t, v, product());
    }
    return v;
  };
  const product = (): Value => {
    let v = unary();
    for (let t = peek(); t === "*" || t === "/"; t = peek()) {
      i++;
      v = binary(t, v, unary());
    }
    return v;
  };
  const unary = (): Value => {
    const t = peek();
    if (t === "+" || t === "-") {
      i++;
      const v = unary();
      if (t === "+") return v;
      return v.kind === "rat" ? rat(-v.n, v.d) : { kind: "float", v: -v.v };
    }
    return power();
  };
  const power = (): Value => {
    const base = atom();
    if (peek() === "**") {
      i++;
      return binary("**", base, unary());
    }
    return base;
  };
  const atom = (): Value => {
    const t = toks[i++];
    if (t === undefined) throw new Undecided("unexpected end");
    if (t === "(") {
      const v = xor();
      if (toks[i++] !== ")") throw new Undecided("unbalanced parenthesis");
      return v;
    }
    if (/^[\d.]/.test(t)) return literal(t);
    throw new Undecided(`unexpected ${t}`);
  };
  const v = xor();
  if (i !== toks.length) throw new Undecided("trailing tokens");
  return v;
}

/** true/false when decidable with exact arithmetic, null when sympy would be needed. */
export function fallbackSymbolicEqual(pred: string, gold: string): boolean | null {
  try {
    const diff = binary("-", evaluate(pred), evaluate(gold));
    return diff.kind === "rat" ? diff.n === 0n : diff.v === 0;
  } catch (e) {
    if (e instanceof Undecided) return null;
    throw e;
  }
}

const FLOAT_GRAMMAR =
  /^[+-]?(?:(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:e[+-]?\d(?:_?\d)*)?|inf(?:inity)?|nan)$/i;

/** Python `float(s)` for ASCII input (after normalisation there is no whitespace); null on ValueError. */
export function pythonFloat(s: string): number | null {
  if (!FLOAT_GRAMMAR.test(s)) return null;
  const t = s.replaceAll("_", "").toLowerCase();
  const sign = t.startsWith("-") ? -1 : 1;
  const body = t.replace(/^[+-]/, "");
  if (body === "nan") return Number.NaN;
  if (body === "inf" || body === "infinity") return sign * Number.POSITIVE_INFINITY;
  return Number(t);
}
