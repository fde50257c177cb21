/**
 * The validator could not run (not: the file failed a check; that is a verdict). Carries the
 * context a user needs (`details`) and says in its message what to do about it.
 */
export class ValidatorSetupError extends Error {
  override readonly name: string = "ValidatorSetupError";
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }
}
