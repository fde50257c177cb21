import { GrailError } from "@grail/protocol";

/** Base of the validator's errors: `context` carries what a user needs to act on it. */
export class ValidatorError extends GrailError {}

/**
 * The validator could not run (not: the file failed a check; that is a verdict). Carries the
 * context a user needs (`context`) and says in its message what to do about it.
 */
export class ValidatorSetupError extends ValidatorError {}
