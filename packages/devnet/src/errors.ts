import { GrailError } from "@grail/protocol";

/**
 * Errors of the local network. Each carries the context a user needs
 * (`context`) and says in its message what to do about it.
 */
export class DevnetError extends GrailError {}

/** A block the local chain has not produced yet was asked for. */
export class UnknownBlockError extends DevnetError {}

/** A hotkey that is not registered on the local subnet tried to act as a neuron. */
export class NotRegisteredError extends DevnetError {
  readonly exitCode = 1;
}

/** A commitment was refused (bad signature, unregistered hotkey, rate limit). */
export class CommitRejectedError extends DevnetError {}

/** A part of the local network failed to start; `context.part` names it. */
export class DevnetStartError extends DevnetError {}
