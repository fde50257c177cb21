import { GrailError } from "@grail/protocol";

/**
 * Errors raised by the chain package. Each carries the context a user needs to act
 * on it (`context`), and the ones that should end the process say with which exit code.
 */
export class ChainError extends GrailError {}

/** The node could not be reached or the websocket dropped and did not come back in time. */
export class ChainConnectionError extends ChainError {}

/** A read kept failing after every retry; the cause of the last attempt is attached. */
export class ChainCallError extends ChainError {}

/** One attempt of a chain call took longer than its per-call timeout. */
export class ChainTimeoutError extends ChainError {}

/** The node does not (yet) know a block with this number: retryable, never treated as a hash. */
export class BlockNotFoundError extends ChainError {}

/**
 * The hotkey has no UID on the subnet. The miner cannot commit or be scored,
 * so the process should stop with `exitCode` after printing the message.
 */
export class HotkeyNotRegisteredError extends ChainError {
  readonly exitCode = 1;
}

/** An extrinsic was rejected by the pool or failed in its block; `module` names the runtime error. */
export class ExtrinsicFailedError extends ChainError {
  readonly module: string | undefined;

  constructor(message: string, module: string | undefined, context: Record<string, unknown> = {}) {
    super(message, { ...context, module });
    this.module = module;
  }
}

/** Credentials that cannot be published in the 128-character commitment format. */
export class CommitmentFormatError extends ChainError {}

/** A wallet keyfile is missing, unreadable, encrypted without a password, or inconsistent. */
export class WalletError extends ChainError {}

/** Every drand relay failed or returned a beacon that does not verify. */
export class DrandUnavailableError extends ChainError {}

/** A beacon whose BLS signature or randomness does not match the quicknet chain. */
export class DrandVerificationError extends ChainError {}
