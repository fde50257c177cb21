import { randomBytes } from "node:crypto";
import { rename, rm, symlink } from "node:fs/promises";
import path from "node:path";
import { isRecord } from "./batching.js";
import { WeightSyncError } from "./errors.js";
import { HttpStatusError, httpJson, httpText } from "./http.js";

/**
 * SGLang in-place reload: `POST /update_weights_from_disk {model_path}` (documented native API; the
 * server waits for running requests, loads into the existing buffers and flushes its prefix cache),
 * then `GET /get_model_info` to confirm the server now reports the new path.
 *
 * Memory release/resume is not used: update_weights_from_disk reuses the parameter buffers, and the
 * server owns its GPUs, so freeing memory in between gains nothing.
 */
export async function sglangUpdateWeightsFromDisk(
  baseUrl: string,
  modelPath: string,
  options: { timeoutMs: number; weightVersion?: string },
): Promise<void> {
  const body: Record<string, unknown> = { model_path: modelPath };
  if (options.weightVersion !== undefined) body.weight_version = options.weightVersion;
  let answer: unknown;
  try {
    answer = await httpJson("POST", `${baseUrl}/update_weights_from_disk`, body, {
      timeoutMs: options.timeoutMs,
    });
  } catch (error) {
    const message = error instanceof HttpStatusError ? error.body.slice(0, 300) : (error as Error).message;
    throw new WeightSyncError(
      `SGLang update_weights_from_disk(${modelPath}) failed: ${message}`,
      { modelPath },
      {
        cause: error,
      },
    );
  }
  if (!isRecord(answer) || answer.success !== true) {
    throw new WeightSyncError(`SGLang update_weights_from_disk(${modelPath}) did not report success`, {
      modelPath,
      answer,
    });
  }
  const info = await httpJson("GET", `${baseUrl}/get_model_info`, undefined, { timeoutMs: 30_000 }).catch(
    () => null,
  );
  if (
    isRecord(info) &&
    typeof info.model_path === "string" &&
    path.resolve(info.model_path) !== path.resolve(modelPath)
  ) {
    throw new WeightSyncError(
      `SGLang reports model_path ${info.model_path} after loading ${modelPath}; refusing to generate on unknown weights`,
      { modelPath, reported: info.model_path },
    );
  }
}

/** Re-points `linkPath` at `target` atomically (a temporary link renamed over the old one). */
export async function repointSymlink(linkPath: string, target: string): Promise<void> {
  const tmp = `${linkPath}.tmp.${process.pid}.${randomBytes(4).toString("hex")}`;
  await rm(tmp, { force: true });
  await symlink(path.resolve(target), tmp);
  try {
    await rename(tmp, linkPath);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** The vLLM reload sequence of spec §4.7 (after the symlink now names the new checkpoint). */
export const VLLM_RELOAD_SEQUENCE: readonly { path: string; body?: unknown }[] = [
  { path: "/sleep?level=2" }, // drop weights and KV cache, keep the process and its CUDA graphs
  { path: "/wake_up" },
  { path: "/collective_rpc", body: { method: "reload_weights" } }, // re-reads the symlink target
  { path: "/reset_prefix_cache" }, // cached prefixes were computed with the old weights
];

export async function vllmReloadWeights(baseUrl: string, options: { timeoutMs: number }): Promise<void> {
  for (const step of VLLM_RELOAD_SEQUENCE) {
    try {
      await httpText("POST", `${baseUrl}${step.path}`, step.body, { timeoutMs: options.timeoutMs });
    } catch (error) {
      throw new WeightSyncError(
        `vLLM weight reload failed at POST ${step.path}: ${(error as Error).message}`,
        {
          step: step.path,
        },
        { cause: error },
      );
    }
  }
}
