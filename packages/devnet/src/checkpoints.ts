import { resolve } from "node:path";
import type { CheckpointLoadMethod } from "@grail/metrics";
import type { CheckpointSource } from "@grail/pipeline";
import { TRAINER_UID } from "@grail/protocol";
import {
  type CheckpointMetadata,
  CheckpointStore,
  ObjectStoreClient,
  type ObjectStoreLocation,
} from "@grail/storage";
import type { LocalChain } from "./chain/local-chain.js";
import { DevnetError } from "./errors.js";

export interface TrainerCheckpointsOptions {
  chain: Pick<LocalChain, "buckets">;
  /** Where the store is served (the local store's endpoint, path-style). */
  location: Pick<ObjectStoreLocation, "endpointUrl" | "region" | "forcePathStyle">;
  cacheRoot: string;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * The trainer's checkpoints read the way miners and validators find them: the bucket and read
 * keys UID 0 committed on the chain, then the checkpoint consumer (READY markers, FULL downloads,
 * DELTA reconstruction, cache). Serves the mining engine (CheckpointSource) and the local
 * validator alike.
 */
export class TrainerCheckpoints implements CheckpointSource {
  private store: CheckpointStore | null = null;

  constructor(private readonly options: TrainerCheckpointsOptions) {}

  private async current(): Promise<CheckpointStore> {
    if (this.store) return this.store;
    const trainer = (await this.options.chain.buckets()).get(TRAINER_UID);
    if (!trainer) {
      throw new DevnetError(`the trainer (UID ${TRAINER_UID}) has no bucket commitment on the local chain`, {
        uid: TRAINER_UID,
      });
    }
    const { location } = this.options;
    const reader = new ObjectStoreClient({
      accountId: trainer.bucket.accountId,
      bucket: trainer.bucket.name,
      ...location,
      role: "read",
      credentials: {
        accessKeyId: trainer.bucket.accessKeyId,
        secretAccessKey: trainer.bucket.secretAccessKey,
      },
    });
    this.store = new CheckpointStore({
      reader,
      cacheRoot: this.options.cacheRoot,
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    return this.store;
  }

  async latestReadyCheckpoint(window: number): Promise<number | null> {
    return (await this.current()).latestReadyCheckpoint(window);
  }

  async getMetadata(checkpointWindow: number): Promise<CheckpointMetadata | null> {
    return (await this.current()).getMetadata(checkpointWindow);
  }

  /** For the validator: the local directory of a checkpoint. */
  async checkpointDir(checkpointWindow: number): Promise<string> {
    return resolve(await (await this.current()).getCheckpoint(checkpointWindow));
  }

  async getCheckpoint(checkpointWindow: number): Promise<{ dir: string; method: CheckpointLoadMethod }> {
    const store = await this.current();
    let method: CheckpointLoadMethod;
    if (await store.isCachedAndVerified(checkpointWindow)) method = "cached";
    else method = (await store.getMetadata(checkpointWindow))?.checkpoint_type === "DELTA" ? "delta" : "full";
    return { dir: resolve(await store.getCheckpoint(checkpointWindow)), method };
  }

  async cleanupLocal(currentWindow: number): Promise<unknown> {
    return this.store?.cleanupLocal(currentWindow);
  }
}
