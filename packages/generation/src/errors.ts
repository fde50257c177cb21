import { GrailError } from "@grail/protocol";

/**
 * Typed errors of the generation layer. Each carries the context a caller needs to decide
 * (drop the batch, restart the server, stop the miner) and a message that says what to do.
 */
export class GenerationError extends GrailError {}

/** The server process could not be started or did not become healthy in time. */
export class ServerStartError extends GenerationError {}

/** The supervised server exited and the restart budget is spent. */
export class ServerCrashedError extends GenerationError {}

/** A request could not be completed after all retries (network errors, 5xx, timeouts). */
export class GenerationRequestError extends GenerationError {}

/** The server answered, but not in the documented shape (wrong types, missing fields, wrong batch length). */
export class ResponseShapeError extends GenerationError {}

/** Reloading weights in place failed and the fallback restart failed too. */
export class WeightSyncError extends GenerationError {}

/**
 * Generation would run on weights other than the ones the caller proves with. Raised instead of
 * returning completions that a validator would reject.
 */
export class StaleWeightsError extends GenerationError {}

/** Tokenizer files missing or unreadable, or a chat template that cannot be rendered. */
export class TokenizerError extends GenerationError {}

/** Invalid options handed to a launcher, client or server. */
export class GenerationConfigError extends GenerationError {}
