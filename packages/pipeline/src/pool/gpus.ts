import { ProtocolViolationError } from "@grail/protocol";

/**
 * The physical device id for a GPU index relative to the coordinator's CUDA_VISIBLE_DEVICES:
 * GRAIL_PIPELINE_PROOF_GPU_IDS are relative (as in the reference), while a worker child is pinned
 * with CUDA_VISIBLE_DEVICES=<physical id> so it sees exactly that device as cuda:0.
 */
export function physicalGpuId(relative: number, parentVisibleDevices: string | null | undefined): string {
  if (!Number.isSafeInteger(relative) || relative < 0) {
    throw new ProtocolViolationError(`proof GPU index ${relative} must be a whole number ≥ 0`, { relative });
  }
  const list = (parentVisibleDevices ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parentVisibleDevices === undefined || parentVisibleDevices === null || list.length === 0) {
    return String(relative);
  }
  const id = list[relative];
  if (id === undefined) {
    throw new ProtocolViolationError(
      `proof GPU ${relative} is not visible: CUDA_VISIBLE_DEVICES=${parentVisibleDevices} lists ${list.length} device(s), indices 0..${list.length - 1}`,
      { relative, visible: list },
    );
  }
  return id;
}
