import { GrailError } from "@grail/protocol";

/** Machine-readable reasons an engine call can fail. */
export type EngineErrorCode =
  | "missing_file"
  | "bad_config"
  | "unsupported_model_type"
  | "unsupported_config"
  | "missing_tensor"
  | "bad_shape"
  | "unsupported_dtype"
  | "bad_safetensors"
  | "weights_unreadable"
  | "non_finite_weights"
  | "architecture_changed"
  | "invalid_input"
  | "token_out_of_range"
  | "cuda_unavailable"
  | "cuda_error"
  | "out_of_memory"
  | "addon_missing"
  | "closed"
  | "internal";

/** Every failure of the engine: `code` says what went wrong, the message says what to do about it. */
export class EngineError extends GrailError {
  declare readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message, context, { code });
  }
}

const KNOWN_CODES = new Set<string>([
  "missing_file",
  "bad_config",
  "unsupported_model_type",
  "unsupported_config",
  "missing_tensor",
  "bad_shape",
  "unsupported_dtype",
  "bad_safetensors",
  "weights_unreadable",
  "non_finite_weights",
  "architecture_changed",
  "invalid_input",
  "token_out_of_range",
  "cuda_unavailable",
  "cuda_error",
  "out_of_memory",
  "addon_missing",
  "closed",
  "internal",
]);

/** Wraps an error thrown by the addon (an Error carrying a string `code`) as an EngineError. */
export function fromNativeError(err: unknown, context: Record<string, unknown> = {}): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const raw = typeof e?.code === "string" ? e.code : "internal";
  const code = (KNOWN_CODES.has(raw) ? raw : "internal") as EngineErrorCode;
  const message = typeof e?.message === "string" ? e.message : String(err);
  return new EngineError(code, message, { ...context, nativeCode: raw });
}
