export interface GrailErrorOptions {
  /** Machine-readable reason; default: the class name. */
  readonly code?: string;
  readonly cause?: unknown;
}

/**
 * Base of every error the project throws. `code` is what a caller or a log query matches on,
 * `context` the values that locate the failure (bucket, window, variable, …), `cause` the error it
 * wraps. Each package's errors extend it, so one `instanceof GrailError` tells ours from foreign ones.
 */
export class GrailError extends Error {
  readonly code: string;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(message: string, context: Record<string, unknown> = {}, options: GrailErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = options.code ?? new.target.name;
    this.context = context;
  }
}

/**
 * Raised when an input or a configuration would make the miner produce data the
 * validator rejects. `context` carries the offending values so callers can log them.
 */
export class ProtocolViolationError extends GrailError {}

/** A hex string that cannot be decoded under the rules of spec §2.1. */
export class HexFormatError extends ProtocolViolationError {}
