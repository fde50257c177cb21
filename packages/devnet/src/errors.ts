/**
 * Errors of the local network. Each carries the context a user needs
 * (`details`) and says in its message what to do about it.
 */
export class DevnetError extends Error {
  override readonly name: string = "DevnetError";
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }
}

/** A block the local chain has not produced yet was asked for. */
export class UnknownBlockError extends DevnetError {
  override readonly name: string = "UnknownBlockError";
}

/** A hotkey that is not registered on the local subnet tried to act as a neuron. */
export class NotRegisteredError extends DevnetError {
  override readonly name: string = "NotRegisteredError";
  readonly exitCode = 1;
}

/** A commitment was refused (bad signature, unregistered hotkey, rate limit). */
export class CommitRejectedError extends DevnetError {
  override readonly name: string = "CommitRejectedError";
}

/** A part of the local network failed to start; `details.part` names it. */
export class DevnetStartError extends DevnetError {
  override readonly name: string = "DevnetStartError";
}
