/**
 * Publishing side of the checkpoint layout, for the local devnet trainer and tests:
 * FULL checkpoints (safetensors + config files + manifest) and DELTA checkpoints in the
 * sparse codec, each finished by its type marker and a READY-<R> marker, in the order
 * the trainer uses (files, metadata, markers last) so consumers never see half a publish.
 */
import { createHash } from "node:crypto";
import { WINDOW_LENGTH } from "@grail/protocol";
import {
  type CheckpointType,
  checkpointSubPrefix,
  type GenerationParams,
  readyMarkerKey,
} from "./checkpoint-layout.js";
import { StorageError } from "./errors.js";
import type { ObjectStoreClient } from "./object-store.js";
import { numel, type StateDict, safetensorsLayout } from "./safetensors.js";
import { encodeSparseDelta, type SparseCodecFormat } from "./sparse-codec.js";
import { diffStateDicts, weightsHash } from "./weights.js";

export interface PublishCommon {
  window: number;
  /** Window in which the upload finished (READY-<R>); defaults to window + WINDOW_LENGTH. */
  readyWindow?: number;
  envId: string;
  envParams?: Record<string, unknown>;
  generationParams: GenerationParams;
  thinkingMode: "native" | "instructed";
  trainingConfig?: Record<string, unknown>;
}

function serializeState(state: StateDict): Buffer {
  const { header, order } = safetensorsLayout(state, { format: "pt" });
  return Buffer.concat([header, ...order.map(([, t]) => t.data)]);
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export class CheckpointPublisher {
  constructor(private readonly writer: ObjectStoreClient) {
    if (writer.role !== "write") {
      throw new StorageError("publishing checkpoints needs the write client", { role: writer.role });
    }
  }

  private async publish(
    common: PublishCommon,
    type: CheckpointType,
    files: Record<string, Uint8Array>,
    extra: Record<string, unknown>,
  ): Promise<void> {
    const prefix = checkpointSubPrefix(common.window, type);
    const manifest: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(files)) {
      manifest[name] = sha256(bytes);
      await this.writer.putBytes(`${prefix}/${name}`, bytes);
    }
    const trainingConfig = common.trainingConfig ?? {};
    const metadata = {
      window: common.window,
      file_manifest: manifest,
      training_config: trainingConfig,
      git_commit: "devnet",
      created_at: Date.now() / 1000,
      checkpoint_type: type,
      env_id: common.envId,
      env_params: common.envParams ?? {},
      generation_params: common.generationParams,
      thinking_mode: common.thinkingMode,
      config_hash: createHash("sha256").update(JSON.stringify(trainingConfig)).digest("hex"),
      ...extra,
    };
    await this.writer.putBytes(`${prefix}/metadata.json`, Buffer.from(JSON.stringify(metadata)));
    await this.writer.putBytes(`${prefix}/${type}`, new Uint8Array(0));
    await this.writer.putBytes(
      readyMarkerKey(common.window, common.readyWindow ?? common.window + WINDOW_LENGTH),
      new Uint8Array(0),
    );
  }

  async publishFull(
    common: PublishCommon & { state: StateDict; modelName: string; extraFiles?: Record<string, Uint8Array> },
  ): Promise<{ weightsHash: string }> {
    const hash = await weightsHash(common.state);
    await this.publish(
      common,
      "FULL",
      { ...common.extraFiles, "model.safetensors": serializeState(common.state) },
      { model_name: common.modelName, weights_hash: hash },
    );
    return { weightsHash: hash };
  }

  async publishDelta(
    common: PublishCommon & {
      prevWindow: number;
      anchorWindow: number;
      prevState: StateDict;
      state: StateDict;
      format: SparseCodecFormat;
    },
  ): Promise<{ weightsHash: string; nonzero: number }> {
    const updates = diffStateDicts(common.prevState, common.state);
    const total = [...common.state.values()].reduce((a, t) => a + numel(t.shape), 0);
    const nonzero = updates.reduce((a, u) => a + u.positions.length, 0);
    const deltaMetadata = {
      format: common.format,
      threshold: 0,
      prev_window: common.prevWindow,
      anchor_window: common.anchorWindow,
      shapes: Object.fromEntries(updates.map((u) => [u.name, u.shape])),
      total_params: total,
      nonzero_params: nonzero,
      sparsity_ratio: total > 0 ? 1 - nonzero / total : 1,
    };
    const hash = await weightsHash(common.state);
    await this.publish(
      common,
      "DELTA",
      {
        "delta_metadata.json": Buffer.from(JSON.stringify(deltaMetadata)),
        "delta_sparse.bin.zst": await encodeSparseDelta(updates, common.format),
      },
      {
        model_name: "async_trainer_snapshot",
        prev_window: common.prevWindow,
        anchor_window: common.anchorWindow,
        weights_hash: hash,
      },
    );
    return { weightsHash: hash, nonzero };
  }
}
