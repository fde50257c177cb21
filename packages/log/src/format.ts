import type { LogLevel } from "./verbosity.js";

/** One log record after redaction: what the formats below print. */
export interface LogRecord {
  readonly time: Date;
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

const RESERVED = new Set(["time", "level", "msg"]);

/** One JSON object per line: `{"time","level","msg",...fields}`; a field named like a reserved key gets a `_` prefix. */
export function formatJsonLine(record: LogRecord): string {
  const out: Record<string, unknown> = {
    time: record.time.toISOString(),
    level: record.level,
    msg: record.message,
  };
  for (const [k, v] of Object.entries(record.fields)) {
    if (v === undefined) continue;
    out[RESERVED.has(k) ? `_${k}` : k] = v;
  }
  return JSON.stringify(out);
}

const LEVEL_COLOURS: Record<LogLevel, string> = {
  error: "\x1b[31m",
  warn: "\x1b[33m",
  notice: "\x1b[36m",
  info: "\x1b[32m",
  debug: "\x1b[90m",
};
const RESET = "\x1b[0m";

/**
 * A single human-readable line: `HH:MM:SS.mmm LEVEL  message  key=value …`. Newlines inside the
 * message or values are escaped so one record is always one line (error stacks are printed as
 * escaped text; the JSON format keeps them structured).
 */
export function formatHumanLine(record: LogRecord, colour = false): string {
  const t = record.time;
  const clock = [t.getHours(), t.getMinutes(), t.getSeconds()]
    .map((n) => String(n).padStart(2, "0"))
    .join(":");
  const stamp = `${clock}.${String(t.getMilliseconds()).padStart(3, "0")}`;
  const label = record.level.toUpperCase().padEnd(6);
  const level = colour ? `${LEVEL_COLOURS[record.level]}${label}${RESET}` : label;
  const parts = [`${stamp} ${level} ${escapeLine(record.message)}`];
  for (const [k, v] of Object.entries(record.fields)) {
    if (v === undefined) continue;
    parts.push(`${k}=${humanValue(v)}`);
  }
  return parts.join("  ");
}

function humanValue(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return JSON.stringify(v) ?? String(v);
}

function escapeLine(s: string): string {
  return s.replace(/\r?\n/g, "\\n").replace(/\r/g, "\\r");
}
