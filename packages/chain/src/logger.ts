/**
 * The few log calls this package makes. A winston logger satisfies it; the default
 * drops everything so library use stays quiet. Nothing in this package ever passes
 * key material to it.
 */
export interface ChainLogger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

export const silentLogger: ChainLogger = {
  debug() {},
  info() {},
  warn() {},
};
