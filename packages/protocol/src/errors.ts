/**
 * Raised when an input or a configuration would make the miner produce data the
 * validator rejects. `details` carries the offending values so callers can log them.
 */
export class ProtocolViolationError extends Error {
  override readonly name: string = "ProtocolViolationError";
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.details = details;
  }
}

/** A hex string that cannot be decoded under the rules of spec §2.1. */
export class HexFormatError extends ProtocolViolationError {
  override readonly name: string = "HexFormatError";
}
