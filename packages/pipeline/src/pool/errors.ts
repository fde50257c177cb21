import { GrailError } from "@grail/protocol";

/** Base of the pool's errors: `context` carries what a log line or an operator needs. */
export class ProofPoolError extends GrailError {}

/**
 * A worker could not be started, did not say hello, speaks another protocol, or failed to load.
 * `permanent` when another try would fail the same way (the worker refused the model or speaks
 * another protocol); otherwise (it died, hung or sent a corrupt reply) a new process may work.
 */
export class WorkerStartError extends ProofPoolError {
  readonly permanent: boolean;

  constructor(message: string, context: Record<string, unknown> = {}, options: { permanent?: boolean } = {}) {
    super(message, context);
    this.permanent = options.permanent ?? false;
  }
}

/** A worker died, hung, or answered a request badly; the pool restarts it. */
export class WorkerFailure extends ProofPoolError {}

/** A group was not proved: it failed on every attempt, its checkpoint is gone, or the pool closed. */
export class GroupDroppedError extends ProofPoolError {
  readonly groupId: string;
  readonly reason: string;

  constructor(groupId: string, reason: string, context: Record<string, unknown> = {}) {
    super(`group ${groupId} dropped: ${reason}`, { groupId, ...context });
    this.groupId = groupId;
    this.reason = reason;
  }
}

/** The group was generated with a checkpoint the workers no longer hold. */
export class StaleCheckpointError extends GroupDroppedError {}

/** The pool was shut down before the group was proved. */
export class PoolClosedError extends GroupDroppedError {}

/** Input that can never be proved (empty group, bad tokens, bad prompt length). */
export class InvalidGroupError extends ProofPoolError {}

/** The pool could not start (neither topology worked) or lost every worker. */
export class PoolStartError extends ProofPoolError {}
