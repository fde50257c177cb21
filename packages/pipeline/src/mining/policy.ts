import { EnvironmentError, InvalidSplitError, UnknownEnvironmentError } from "@grail/environments";
import { ProtocolViolationError } from "@grail/protocol";
import { PoolStartError } from "../pool/errors.js";
import { FatalMiningError, PipelineInitError, WindowSkippedError, type WindowSkipReason } from "./errors.js";

/**
 * What the window loop does with an error that escaped a window (spec/miner-pipeline.md §3.12,
 * with the fixes of §11):
 *
 * | error                                                    | action                                          |
 * | -------------------------------------------------------- | ----------------------------------------------- |
 * | WindowSkippedError (no/bad checkpoint, weights not synced, too late) | skip: window marked processed        |
 * | ProtocolViolationError (malformed metadata, sampling policy) | skip, no sleep: no retry storm               |
 * | unknown environment or split                             | skip (the trainer's metadata names it)          |
 * | PipelineInitError (server or pool failed to start)       | exit 1: a supervisor restarts the process       |
 * | PoolStartError (every proof worker lost), FatalMiningError | exit 1                                        |
 * | anything else (chain or store hiccup)                    | retry the same window after a pause if still current |
 *
 * Groups finished before the error are never lost: they are already in the window's sink and the
 * window is published whatever the error (see MiningEngine).
 */
export type ErrorAction =
  | { action: "skip_window"; reason: WindowSkipReason }
  | { action: "retry_window" }
  | { action: "exit"; code: number };

export function classifyWindowError(err: unknown): ErrorAction {
  if (err instanceof WindowSkippedError) return { action: "skip_window", reason: err.reason };
  if (err instanceof PipelineInitError || err instanceof FatalMiningError) {
    return { action: "exit", code: err.exitCode };
  }
  if (err instanceof PoolStartError) return { action: "exit", code: 1 };
  if (err instanceof ProtocolViolationError) return { action: "skip_window", reason: "metadata_invalid" };
  if (err instanceof UnknownEnvironmentError || err instanceof InvalidSplitError) {
    return { action: "skip_window", reason: "metadata_invalid" };
  }
  if (err instanceof EnvironmentError) return { action: "retry_window" };
  return { action: "retry_window" };
}
