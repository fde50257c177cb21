import type { Logger } from "@grail/log";
import type { MiningEngine } from "@grail/pipeline";
import type { MinerOverrides } from "./overrides.js";
import { ProgressLine } from "./progress.js";

/**
 * What an operator drives a running engine with: SIGINT/SIGTERM finish the window in progress (a
 * second signal exits at once), the caller's abort signal stops it, and a live progress line is
 * drawn on a TTY. Every hook is undone by the returned cleanups.
 */
export function attachOperatorControls(
  engine: MiningEngine,
  overrides: MinerOverrides,
  cleanups: (() => Promise<unknown>)[],
  log: Logger,
): void {
  const stopOn = (signal: NodeJS.Signals) => {
    if (engine.stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(130);
    }
    engine.stop(signal);
  };
  if (overrides.handleSignals ?? true) {
    process.on("SIGINT", stopOn);
    process.on("SIGTERM", stopOn);
    cleanups.push(async () => {
      process.off("SIGINT", stopOn);
      process.off("SIGTERM", stopOn);
    });
  }
  overrides.signal?.addEventListener("abort", () => engine.stop("stop requested"), { once: true });

  const progressStream = progressStreamOf(overrides);
  if (progressStream) {
    const line = new ProgressLine(progressStream, () => engine.progress()).start();
    cleanups.push(async () => line.stop());
  }
}

/** Where live progress is drawn: the override, else stderr when it is a terminal. */
export function progressStreamOf(overrides: MinerOverrides): NodeJS.WriteStream | null {
  if (overrides.progressStream !== undefined) return overrides.progressStream;
  return process.stderr.isTTY ? process.stderr : null;
}
