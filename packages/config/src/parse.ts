import { GrailError } from "@grail/protocol";

/**
 * Parsers for the textual forms settings take in `.env` and the environment. Each throws a
 * ValueProblem whose text says what is wrong with the value; the caller adds the variable name
 * and what is allowed.
 */
export class ValueProblem extends GrailError {}

export function parseInteger(raw: string): number {
  const s = raw.trim();
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw new ValueProblem("is too large");
    return n;
  }
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$/.test(s)) throw new ValueProblem("is not a whole number");
  throw new ValueProblem("is not a number");
}

export function parseNumber(raw: string): number {
  const s = raw.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new ValueProblem("is not a number");
  const n = Number(s);
  if (!Number.isFinite(n)) throw new ValueProblem("is not a finite number");
  return n;
}

const TRUE_WORDS = new Set(["true", "1", "yes"]);
const FALSE_WORDS = new Set(["false", "0", "no"]);

export function parseBoolean(raw: string): boolean {
  const s = raw.trim().toLowerCase();
  if (TRUE_WORDS.has(s)) return true;
  if (FALSE_WORDS.has(s)) return false;
  throw new ValueProblem("is not a boolean");
}

/** "4,5,6,7" → [4,5,6,7]; "" → []. Spaces around entries are allowed. */
export function parseIndexList(raw: string): number[] {
  const s = raw.trim();
  if (s === "") return [];
  return s.split(",").map((part) => {
    const p = part.trim();
    if (p === "") throw new ValueProblem("has an empty entry");
    if (!/^\d+$/.test(p)) throw new ValueProblem(`has the entry "${p}", which is not a whole number ≥ 0`);
    return Number(p);
  });
}

/**
 * CUDA_VISIBLE_DEVICES: indices or device UUIDs (`GPU-…`, `MIG-…`), comma separated.
 * "" is a real value: no device is visible.
 */
export function parseDeviceList(raw: string): string[] {
  const s = raw.trim();
  if (s === "") return [];
  const ids = s.split(",").map((part) => {
    const p = part.trim();
    if (!/^(\d+|(GPU|MIG)-[0-9A-Za-z/-]+)$/.test(p)) {
      throw new ValueProblem(`has the entry "${p}", which is neither a device index nor a GPU-/MIG- UUID`);
    }
    return p;
  });
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new ValueProblem(`lists device ${dup} twice`);
  return ids;
}

const BYTE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/** "100MB" → 104857600 (1024-based, as the reference's size parser); a bare number is bytes. */
export function parseByteSize(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?$/i.exec(raw.trim());
  if (!m) throw new ValueProblem("is not a size");
  const bytes = Math.floor(Number(m[1]) * BYTE_UNITS[(m[2] ?? "B").toUpperCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new ValueProblem("is too large");
  return bytes;
}

export function formatByteSize(bytes: number): string {
  for (const unit of ["GB", "MB", "KB"] as const) {
    const size = BYTE_UNITS[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/** Comma-separated words, blanks dropped: "grail, bittensor" → ["grail", "bittensor"]. */
export function parseWordList(raw: string): string[] {
  return raw
    .split(",")
    .map((w) => w.trim())
    .filter((w) => w.length > 0);
}

/**
 * Splits a launch command the way a POSIX shell splits words: whitespace separates, single quotes
 * keep everything literally, double quotes keep spaces and honour backslash escapes, a backslash
 * outside quotes escapes the next character. No expansion of variables or globs happens: the
 * command is spawned without a shell.
 */
export function splitCommand(raw: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < raw.length && '"\\$`'.includes(raw[i + 1]!)) word += raw[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= raw.length) throw new ValueProblem("ends with a lone backslash");
      word += raw[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new ValueProblem(`has an unclosed ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new ValueProblem("has no command");
  return words;
}

export const PROOF_ENGINES = ["native", "torch"] as const;
export type ProofEngineKind = (typeof PROOF_ENGINES)[number];

/** Which proof engine runs on which proof GPU: a default plus per-GPU overrides. */
export interface ProofEngineChoice {
  readonly default: ProofEngineKind;
  /** Overrides keyed by proof GPU index (relative to CUDA_VISIBLE_DEVICES). */
  readonly perGpu: Readonly<Record<number, ProofEngineKind>>;
}

function asEngine(word: string): ProofEngineKind {
  const w = word.trim().toLowerCase();
  if ((PROOF_ENGINES as readonly string[]).includes(w)) return w as ProofEngineKind;
  throw new ValueProblem(`names the engine "${word.trim()}"`);
}

/** "native" | "torch" | "4:native,5:torch" | "native,5:torch" (a bare entry is the default). */
export function parseProofEngine(raw: string): ProofEngineChoice {
  const s = raw.trim();
  if (s === "") return { default: "native", perGpu: {} };
  let fallback: ProofEngineKind | null = null;
  const perGpu: Record<number, ProofEngineKind> = {};
  for (const part of s.split(",")) {
    const entry = part.trim();
    if (entry === "") throw new ValueProblem("has an empty entry");
    const colon = entry.indexOf(":");
    if (colon < 0) {
      if (fallback !== null) throw new ValueProblem("names two default engines");
      fallback = asEngine(entry);
      continue;
    }
    const gpuText = entry.slice(0, colon).trim();
    if (!/^\d+$/.test(gpuText)) throw new ValueProblem(`has "${gpuText}" where a GPU index belongs`);
    const gpu = Number(gpuText);
    if (perGpu[gpu] !== undefined) throw new ValueProblem(`names GPU ${gpu} twice`);
    perGpu[gpu] = asEngine(entry.slice(colon + 1));
  }
  return { default: fallback ?? "native", perGpu };
}

export function formatProofEngine(choice: ProofEngineChoice): string {
  const overrides = Object.entries(choice.perGpu).map(([gpu, engine]) => `${gpu}:${engine}`);
  return [choice.default, ...overrides].join(",");
}

/** The SDK's rule for custom endpoints: `ws://` is prepended when neither ws:// nor wss:// is given. */
export function normalizeChainEndpoint(raw: string): string {
  const s = raw.trim();
  const url = /^wss?:\/\//i.test(s) ? s : `ws://${s}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValueProblem("is not a websocket address");
  }
  if (!parsed.hostname) throw new ValueProblem("has no host");
  return url;
}

export function parseHttpUrl(raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    throw new ValueProblem("is not a URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ValueProblem(`uses ${parsed.protocol} instead of http: or https:`);
  }
  return raw.trim().replace(/\/+$/, "");
}
