/** 0: warnings, errors and the miner's lifecycle lines; 1 (`-v`): info; 2 (`-vv`): debug. */
export type Verbosity = 0 | 1 | 2;

/**
 * Levels, most severe first. `notice` sits between warn and info: it carries the miner's lifecycle
 * lines (started, window begun, uploaded, stopping), which the reference prints even without `-v`
 * because it forces its own logger to INFO below `-vv`. Giving them their own level keeps that
 * behaviour while third-party chatter at `info` stays hidden at verbosity 0.
 */
export const LOG_LEVELS = { error: 0, warn: 1, notice: 2, info: 3, debug: 4 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

/** The most verbose level shown at a verbosity. */
export function levelForVerbosity(verbosity: Verbosity): LogLevel {
  return (["notice", "info", "debug"] as const)[verbosity];
}

/**
 * Counts `-v`, `-vv`, `-vvv`… and `--verbose` (each adds one) anywhere in argv; other arguments are
 * ignored. Counts above 2 are capped (debug is the most verbose level).
 */
export function parseVerbosity(argv: readonly string[]): Verbosity {
  let count = 0;
  for (const arg of argv) {
    if (arg === "--") break;
    if (arg === "--verbose") count += 1;
    else if (/^-v+$/.test(arg)) count += arg.length - 1;
  }
  return Math.min(count, 2) as Verbosity;
}

/** True for argv entries parseVerbosity consumes. */
export function isVerbosityFlag(arg: string): boolean {
  return arg === "--verbose" || /^-v+$/.test(arg);
}
