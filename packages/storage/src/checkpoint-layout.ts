/**
 * Trainer checkpoint layout, metadata and retention (spec/miner-pipeline.md §6.1–§6.3, §6.8).
 */
import { CHECKPOINT_PREFIX, WINDOW_LENGTH } from "@grail/protocol";

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

export function parseCheckpointMetadata(
  payload: Record<string, unknown>,
  window: number,
  defaultType: CheckpointType,
): CheckpointMetadata {
  const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const obj = (v: unknown): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const type =
    payload.checkpoint_type === "DELTA" || payload.checkpoint_type === "FULL"
      ? payload.checkpoint_type
      : defaultType;
  const manifest: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(payload.file_manifest))) if (typeof v === "string") manifest[k] = v;
  return {
    window: num(payload.window) ?? window,
    parent_window: num(payload.parent_window),
    file_manifest: manifest,
    training_config: obj(payload.training_config),
    git_commit: typeof payload.git_commit === "string" ? payload.git_commit : "unknown",
    created_at: Number(payload.created_at ?? 0) || 0,
    model_name: typeof payload.model_name === "string" ? payload.model_name : "no_name",
    checkpoint_type: type,
    prev_window: num(payload.prev_window),
    anchor_window: num(payload.anchor_window),
    weights_hash: typeof payload.weights_hash === "string" ? payload.weights_hash : null,
    env_id: typeof payload.env_id === "string" ? payload.env_id : null,
    env_params: obj(payload.env_params),
    generation_params: obj(payload.generation_params) as CheckpointMetadata["generation_params"],
    thinking_mode: typeof payload.thinking_mode === "string" ? payload.thinking_mode : null,
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
