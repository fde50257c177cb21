import { GrailError } from "@grail/protocol";

/** Base of the mining engine's errors: `context` carries what a log line or an operator needs. */
export class MiningError extends GrailError {}

/** Why a window is given up before any group of it was generated. */
export type WindowSkipReason =
  /** No READY checkpoint older than the window exists (yet). */
  | "no_checkpoint"
  /** The newest checkpoint could not be downloaded, reconstructed or verified. */
  | "checkpoint_unavailable"
  /** The checkpoint's metadata is missing or malformed (env, thinking mode, sampling policy). */
  | "metadata_invalid"
  /** The generation server or the proof workers could not switch to the window's checkpoint. */
  | "weights_not_synced"
  /** Too little of the window is left to generate and upload even one batch. */
  | "too_late"
  /** The miner is stopping. */
  | "stopping";

/**
 * The window is skipped and marked processed: retrying it would fail the same way (bad metadata)
 * or produce rows validators reject (stale weights). Mining resumes with the next window.
 */
export class WindowSkippedError extends MiningError {
  readonly reason: WindowSkipReason;

  constructor(
    reason: WindowSkipReason,
    message: string,
    context: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(message, { reason, ...context }, cause === undefined ? undefined : { cause });
    this.reason = reason;
  }
}

/**
 * The generation server or the proof pool could not be started on the first checkpoint. The
 * process exits with status 1 so a supervisor (docker, systemd) restarts it: retrying in-process
 * would keep a broken miner heart-beating forever.
 */
export class PipelineInitError extends MiningError {
  /** 1: a supervisor restarts the miner; 2 when the cause is a configuration a restart cannot cure. */
  get exitCode(): number {
    return this.context.configuration === true ? 2 : 1;
  }
}

/** A failure the miner cannot recover from in-process (every proof worker lost, watchdog stall). */
export class FatalMiningError extends MiningError {
  readonly exitCode = 1;
}
