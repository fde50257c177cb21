/** The logging surface this package needs; the miner passes its winston logger (same method shapes). */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Plain stderr logger for the standalone server CLI and scripts. */
export function consoleLogger(prefix = ""): Logger {
  const write = (level: string, message: string, meta?: Record<string, unknown>) => {
    const tail = meta && Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : "";
    process.stderr.write(`${new Date().toISOString()} ${level} ${prefix}${message}${tail}\n`);
  };
  return {
    debug: (m, meta) => write("debug", m, meta),
    info: (m, meta) => write("info", m, meta),
    warn: (m, meta) => write("warn", m, meta),
    error: (m, meta) => write("error", m, meta),
  };
}
