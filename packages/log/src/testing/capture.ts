import type { Logger } from "../logger.js";

export interface CapturedLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/**
 * A Logger that records every line (children included, with their bound fields merged in)
 * and prints nothing, so tests can assert on warnings and their context.
 */
export function captureLogger(
  lines: CapturedLine[] = [],
  fields: Record<string, unknown> = {},
): Logger & { lines: CapturedLine[] } {
  const make = (extra: Record<string, unknown>): Logger & { lines: CapturedLine[] } => {
    const write = (level: string) => (message: string, f?: Record<string, unknown>) => {
      lines.push({ level, message, fields: { ...extra, ...(f ?? {}) } });
    };
    return {
      lines,
      level: "debug",
      error: write("error"),
      warn: write("warn"),
      notice: write("notice"),
      info: write("info"),
      debug: write("debug"),
      isLevelEnabled: () => true,
      child: (f) => make({ ...extra, ...f }),
      close: async () => undefined,
    };
  };
  return make(fields);
}
