/**
 * Trainer checkpoint layout, metadata and retention (spec/miner-pipeline.md §6.1–§6.3, §6.8).
 */
import { CHECKPOINT_PREFIX, WINDOW_LENGTH } from "@grail/protocol";
import { unsafeNameReason } from "./contained-path.js";
import { CheckpointMetadataError } from "./errors.js";

export type CheckpointType = "FULL" | "DELTA";

export function checkpointDirKey(window: number): string {
  return `${CHECKPOINT_PREFIX}checkpoint-${window}`;
}
export function checkpointSubPrefix(window: number, type: CheckpointType): string {
  return `${checkpointDirKey(window)}/${type}`;
}
export function checkpointMetadataKey(window: number, type: CheckpointType): string {
  return `${checkpointSubPrefix(window, type)}/metadata.json`;
}
export function readyMarkerKey(window: number, readyWindow: number): string {
  return `${checkpointDirKey(window)}/READY-${readyWindow}`;
}

export interface ReadyMarker {
  checkpointWindow: number;
  readyWindow: number;
}

const READY_RE = /^grail\/checkpoints\/checkpoint-(\d+)\/READY-(\d+)$/;

/** `grail/checkpoints/checkpoint-<W>/READY-<R>` → {W, R}; anything else → null. */
export function parseReadyMarker(key: string): ReadyMarker | null {
  const m = READY_RE.exec(key);
  if (!m) return null;
  return { checkpointWindow: Number(m[1]), readyWindow: Number(m[2]) };
}

/** §5.7/§6.3: among markers with R < window, the W of the largest (R, W); null when none. */
export function chooseCheckpoint(markers: readonly ReadyMarker[], window: number): number | null {
  let best: ReadyMarker | null = null;
  for (const m of markers) {
    if (m.readyWindow >= window) continue;
    if (
      !best ||
      m.readyWindow > best.readyWindow ||
      (m.readyWindow === best.readyWindow && m.checkpointWindow > best.checkpointWindow)
    ) {
      best = m;
    }
  }
  return best ? best.checkpointWindow : null;
}

export interface GenerationParams {
  max_tokens: number;
  temperature: number;
  top_p: number;
  top_k: number;
  repetition_penalty: number;
}

/** `metadata.json` with the reference's defaults for missing keys (§6.2). */
export interface CheckpointMetadata {
  window: number;
  parent_window: number | null;
  file_manifest: Record<string, string>;
  training_config: Record<string, unknown>;
  git_commit: string;
  created_at: number;
  model_name: string;
  checkpoint_type: CheckpointType;
  prev_window: number | null;
  anchor_window: number | null;
  weights_hash: string | null;
  env_id: string | null;
  env_params: Record<string, unknown>;
  generation_params: Partial<GenerationParams> & Record<string, unknown>;
  thinking_mode: string | null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const HEX = /^[0-9a-fA-F]+$/;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const t = typeof value;
  return t === "object" || t === "undefined" ? `an ${t}` : `a ${t}`;
}

/**
 * `metadata.json` (§6.2) checked field by field: a missing key or JSON null takes the reference's
 * default, any other value must have the field's type. Nothing is coerced: a trainer publish with
 * `env_id: 7` or `window: "30"` is refused with CheckpointMetadataError naming the field, its value
 * and what is allowed. `generation_params` values are left to the sampling policy's rules (§3.5).
 */
export function parseCheckpointMetadata(
  payload: Record<string, unknown>,
  window: number,
  defaultType: CheckpointType,
): CheckpointMetadata {
  const source = checkpointMetadataKey(window, defaultType);
  const refuse = (field: string, value: unknown, allowed: string): never => {
    throw new CheckpointMetadataError(
      `${source}: ${field} is ${JSON.stringify(value) ?? String(value)} (${describe(value)}); allowed: ${allowed}. ` +
        "The trainer's publish is malformed; this checkpoint is not used until it is republished",
      { key: source, field, value, allowed },
    );
  };
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    refuse("metadata.json", payload, "a JSON object");
  }
  const given = (field: string): unknown => payload[field] ?? undefined;
  const int = (field: string): number | null => {
    const v = given(field);
    if (v === undefined) return null;
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
    return refuse(field, v, "a non-negative integer or null");
  };
  const str = (field: string, pattern?: RegExp, allowed = "a string or null"): string | null => {
    const v = given(field);
    if (v === undefined) return null;
    if (typeof v === "string" && (!pattern || pattern.test(v))) return v;
    return refuse(field, v, allowed);
  };
  const obj = (field: string): Record<string, unknown> => {
    const v = given(field);
    if (v === undefined) return {};
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    return refuse(field, v, "an object or null");
  };

  const ownWindow = int("window") ?? window;
  if (ownWindow !== window) {
    throw new CheckpointMetadataError(
      `${source}: window is ${ownWindow} but it was published under checkpoint-${window}; ` +
        "the trainer's publish is malformed, this checkpoint is not used until it is republished",
      { key: source, field: "window", value: ownWindow, allowed: window },
    );
  }
  const type = given("checkpoint_type") ?? defaultType;
  if (type !== "FULL" && type !== "DELTA") refuse("checkpoint_type", type, '"FULL" or "DELTA"');
  const manifest: Record<string, string> = {};
  for (const [name, sha] of Object.entries(obj("file_manifest"))) {
    const field = `file_manifest[${JSON.stringify(name)}]`;
    const unsafe = unsafeNameReason(name);
    if (unsafe !== null)
      refuse(`${field} name`, name, `a relative file name inside the checkpoint (${unsafe})`);
    if (typeof sha !== "string" || !SHA256_HEX.test(sha))
      refuse(field, sha, "a sha256 digest (64 lowercase hex digits)");
    manifest[name] = sha as string;
  }
  const createdAt = given("created_at") ?? 0;
  if (typeof createdAt !== "number" || !Number.isFinite(createdAt))
    refuse("created_at", createdAt, "a finite number");
  return {
    window: ownWindow,
    parent_window: int("parent_window"),
    file_manifest: manifest,
    training_config: obj("training_config"),
    git_commit: str("git_commit", undefined, "a string") ?? "unknown",
    created_at: createdAt as number,
    model_name: str("model_name", undefined, "a string") ?? "no_name",
    checkpoint_type: type as CheckpointType,
    prev_window: int("prev_window"),
    anchor_window: int("anchor_window"),
    weights_hash: str("weights_hash", HEX, "a hex string or null"),
    env_id: str("env_id"),
    env_params: obj("env_params"),
    generation_params: obj("generation_params") as CheckpointMetadata["generation_params"],
    thinking_mode: str("thinking_mode"),
  };
}

/** The fields mining needs (`validate_metadata`): empty list = usable for a window. */
export function missingMetadataFields(m: CheckpointMetadata): string[] {
  const missing: string[] = [];
  if (!m.env_id) missing.push("env_id");
  if (!m.thinking_mode) missing.push("thinking_mode");
  else if (m.thinking_mode !== "native" && m.thinking_mode !== "instructed") {
    missing.push(`thinking_mode (invalid value '${m.thinking_mode}')`);
  }
  if (Object.keys(m.generation_params).length === 0) missing.push("generation_params");
  else {
    for (const k of ["max_tokens", "temperature", "top_p", "top_k", "repetition_penalty"]) {
      if (!(k in m.generation_params)) missing.push(`generation_params.${k}`);
    }
  }
  return missing;
}

export interface RetentionPolicy {
  /** GRAIL_DELTA_BASE_INTERVAL: windows between FULL anchors (default 10). */
  deltaBaseInterval: number;
  /** GRAIL_CHECKPOINT_MILESTONE_INTERVAL in windows; 0 disables milestones. */
  milestoneInterval: number;
  bootstrapWindows: number;
}

export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  deltaBaseInterval: 10,
  milestoneInterval: 0,
  bootstrapWindows: 10,
});

export function anchorStride(policy: Pick<RetentionPolicy, "deltaBaseInterval">): number {
  return Math.max(1, Math.trunc(policy.deltaBaseInterval)) * WINDOW_LENGTH;
}

export function isAnchorWindow(
  window: number,
  policy: Pick<RetentionPolicy, "deltaBaseInterval"> = DEFAULT_RETENTION,
): boolean {
  return window % anchorStride(policy) === 0;
}

/** §6.8: bootstrap windows, the previous anchor's chain up to now, milestones. */
export function computeRetentionWindows(
  current: number,
  policy: RetentionPolicy = DEFAULT_RETENTION,
): Set<number> {
  const keep = new Set<number>();
  if (current < 0) return keep;
  for (let w = 0; w < policy.bootstrapWindows * WINDOW_LENGTH; w += WINDOW_LENGTH)
    if (w <= current) keep.add(w);
  const stride = anchorStride(policy);
  const anchor = Math.floor(current / stride) * stride;
  for (let w = Math.max(0, anchor - stride); w < current + WINDOW_LENGTH; w += WINDOW_LENGTH) keep.add(w);
  if (policy.milestoneInterval > 0) {
    const interval = policy.milestoneInterval * WINDOW_LENGTH;
    for (let w = 0; w <= current; w += interval) keep.add(w);
  }
  return keep;
}
