import { GrailError } from "@grail/protocol";

/**
 * Machine-readable reasons carried by `error` replies. The first five are about the bytes or the
 * shape of a request; the rest about what the worker could not do.
 */
export const IPC_ERROR_CODES = [
  "malformed_frame",
  "frame_too_large",
  "invalid_header",
  "unknown_message",
  "invalid_message",
  "unsupported_version",
  "not_loaded",
  "load_failed",
  "reload_failed",
  "prove_failed",
  "stale_checkpoint",
  "shutting_down",
  "internal",
] as const;

export type IpcErrorCode = (typeof IPC_ERROR_CODES)[number];

const CODES = new Set<string>(IPC_ERROR_CODES);

export function isIpcErrorCode(v: unknown): v is IpcErrorCode {
  return typeof v === "string" && CODES.has(v);
}

/** A frame that cannot be decoded; `requestId` is set when the header still named one. */
export class FrameError extends GrailError {
  declare readonly code: "malformed_frame" | "frame_too_large" | "invalid_header";
  readonly requestId: number | null;

  constructor(code: FrameError["code"], message: string, requestId: number | null = null) {
    super(message, { requestId }, { code });
    this.requestId = requestId;
  }
}

/** A decoded frame that is not a valid message of the protocol. */
export class MessageError extends GrailError {
  declare readonly code: "unknown_message" | "invalid_message";
  readonly requestId: number | null;

  constructor(code: MessageError["code"], message: string, requestId: number | null = null) {
    super(message, { requestId }, { code });
    this.requestId = requestId;
  }
}
