import { GrailError } from "@grail/protocol";
import type convictTypes from "convict";
import convict from "./convict.js";
import {
  normalizeChainEndpoint,
  parseBoolean,
  parseByteSize,
  parseDeviceList,
  parseHttpUrl,
  parseIndexList,
  parseInteger,
  parseNumber,
  parseProofEngine,
  parseWordList,
  splitCommand,
  ValueProblem,
} from "./parse.js";

/** Extra schema fields the formats read (convict keeps unknown schema keys on each property). */
export interface SettingLimits {
  readonly min?: number;
  readonly max?: number;
  /** `min` itself is not allowed (e.g. GPU memory fraction > 0). */
  readonly minExclusive?: boolean;
  readonly values?: readonly string[];
  /** Longest text allowed (the on-chain credential commitment has fixed-width fields). */
  readonly maxLength?: number;
  /**
   * Only printable ASCII, no spaces: the credential commitment (spec/chain.md §4.1) pads fields with
   * spaces, strips them when read, and counts characters as bytes.
   */
  readonly printableAscii?: boolean;
}

/** A value from `.env`/the environment that its format could not parse; kept so the error can show it. */
export class Unparsed {
  constructor(
    readonly raw: string,
    readonly problem: string,
  ) {}
}

/** Thrown by a format's validation: what is wrong and what is allowed. */
export class SettingRejected extends GrailError {
  constructor(
    readonly problem: string,
    readonly allowed: string,
  ) {
    super(`${problem}; allowed: ${allowed}`, { problem, allowed });
  }
}

interface FormatDef<T> {
  parse(raw: string): T;
  check?(value: T, limits: SettingLimits): string | null;
  allowed(limits: SettingLimits): string;
}

function rangeText(l: SettingLimits): string {
  if (l.min !== undefined && l.max !== undefined) return ` from ${l.min} to ${l.max}`;
  if (l.min !== undefined) return l.minExclusive ? ` > ${l.min}` : ` ≥ ${l.min}`;
  if (l.max !== undefined) return ` ≤ ${l.max}`;
  return "";
}

function checkRange(value: number, l: SettingLimits): string | null {
  if (l.min !== undefined && (l.minExclusive ? value <= l.min : value < l.min)) return "is out of range";
  if (l.max !== undefined && value > l.max) return "is out of range";
  return null;
}

const WALLET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Where text leaves printable ASCII; by position only, so a secret's characters never show. */
function asciiProblem(value: string): string | null {
  const at = value.search(/[^\x21-\x7e]/);
  if (at < 0) return null;
  const c = value.charCodeAt(at);
  const what = c > 0x7f ? "a non-ASCII character" : c === 0x20 ? "a space" : "a control character";
  return `has ${what} at position ${at + 1}`;
}

function textAllowed(l: SettingLimits): string {
  const most = l.maxLength !== undefined ? `at most ${l.maxLength} characters` : null;
  if (l.printableAscii) {
    const ascii =
      "printable ASCII without spaces (the on-chain commitment carries it as 1 byte per character)";
    return most ? `${ascii}, ${most}` : ascii;
  }
  return most ? `text of ${most}` : "any text";
}

const FORMATS = {
  "grail-int": {
    parse: parseInteger,
    check: checkRange,
    allowed: (l) => `a whole number${rangeText(l)}`,
  } satisfies FormatDef<number>,
  "grail-number": {
    parse: parseNumber,
    check: checkRange,
    allowed: (l) =>
      l.min !== undefined && l.max !== undefined && l.minExclusive
        ? `a number in (${l.min}, ${l.max}]`
        : `a number${rangeText(l)}`,
  } satisfies FormatDef<number>,
  "grail-bool": {
    parse: parseBoolean,
    allowed: () => "true/false, 1/0 or yes/no",
  } satisfies FormatDef<boolean>,
  "grail-enum": {
    parse: (raw) => raw.trim().toLowerCase(),
    check: (v, l) => (l.values?.includes(v) ? null : "is not a known choice"),
    allowed: (l) => `one of ${(l.values ?? []).join(", ")}`,
  } satisfies FormatDef<string>,
  "grail-string": {
    parse: (raw) => raw.trim(),
    check: (v, l) =>
      (l.printableAscii ? asciiProblem(v) : null) ??
      (l.maxLength !== undefined && v.length > l.maxLength ? "is too long" : null),
    allowed: textAllowed,
  } satisfies FormatDef<string>,
  "grail-name": {
    parse: (raw) => raw.trim(),
    check: (v) => (WALLET_NAME.test(v) ? null : "is not a plain name"),
    allowed: () => "a name of letters, digits, _ . - (no path separators, not starting with . or -)",
  } satisfies FormatDef<string>,
  "grail-path": {
    parse: (raw) => raw.trim(),
    check: (v) => (v.length > 0 ? null : "is empty"),
    allowed: () => "a filesystem path (~ means your home directory)",
  } satisfies FormatDef<string>,
  "grail-index-list": {
    parse: parseIndexList,
    allowed: () => "comma-separated GPU indices (whole numbers ≥ 0), e.g. 4,5,6,7, or empty",
  } satisfies FormatDef<number[]>,
  "grail-device-list": {
    parse: parseDeviceList,
    allowed: () => "comma-separated distinct device indices or GPU-/MIG- UUIDs, e.g. 0,1,2,3",
  } satisfies FormatDef<string[]>,
  "grail-bytes": {
    parse: parseByteSize,
    check: checkRange,
    allowed: (l) => `a size such as 512KB, 100MB or 1GB (units B, KB, MB, GB; 1024-based)${rangeText(l)}`,
  } satisfies FormatDef<number>,
  "grail-words": {
    parse: parseWordList,
    allowed: () => "comma-separated words",
  } satisfies FormatDef<string[]>,
  "grail-command": {
    parse: splitCommand,
    allowed: () => "a command line (quote arguments that contain spaces; no shell expansion)",
  } satisfies FormatDef<string[]>,
  "grail-proof-engine": {
    parse: parseProofEngine,
    allowed: () =>
      'native or torch, or per proof GPU such as "4:native,5:torch" (a bare entry is the default)',
  } satisfies FormatDef<ReturnType<typeof parseProofEngine>>,
  "grail-chain-endpoint": {
    parse: normalizeChainEndpoint,
    allowed: () => "a websocket address such as wss://host:443 or host:9944 (ws:// is added when missing)",
  } satisfies FormatDef<string>,
  "grail-http-url": {
    parse: parseHttpUrl,
    allowed: () => "an http:// or https:// URL",
  } satisfies FormatDef<string>,
} as const;

export type FormatName = keyof typeof FORMATS;

/** Validates a coerced value against its format; throws SettingRejected. Null passes for nullable settings. */
export function validateSetting(
  format: FormatName,
  value: unknown,
  limits: SettingLimits,
  nullable: boolean,
): void {
  const def = FORMATS[format] as FormatDef<unknown>;
  if (value === null) {
    if (nullable) return;
    throw new SettingRejected("is required", def.allowed(limits));
  }
  if (value instanceof Unparsed) throw new SettingRejected(value.problem, def.allowed(limits));
  const problem = def.check?.(value, limits) ?? null;
  if (problem) throw new SettingRejected(problem, def.allowed(limits));
}

export function allowedText(format: FormatName, limits: SettingLimits): string {
  return (FORMATS[format] as FormatDef<unknown>).allowed(limits);
}

let registered = false;

/** Registers the formats with convict once per process (convict keeps formats globally). */
export function registerFormats(): void {
  if (registered) return;
  registered = true;
  for (const [name, def] of Object.entries(FORMATS) as [FormatName, FormatDef<unknown>][]) {
    convict.addFormat({
      name,
      coerce: (raw: unknown) => {
        if (typeof raw !== "string") return raw;
        try {
          return def.parse(raw);
        } catch (err) {
          if (err instanceof ValueProblem) return new Unparsed(raw, err.message);
          throw err;
        }
      },
      validate: (value: unknown, schema: convictTypes.SchemaObj) =>
        validateSetting(name, value, schema as SettingLimits, schema.nullable === true),
    });
  }
}
