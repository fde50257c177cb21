import { resolve } from "node:path";
import type { Logger } from "@grail/log";
import type { CheckpointLoadMethod } from "@grail/metrics";
import { TRAINER_UID } from "@grail/protocol";
import {
  type CheckpointMetadata,
  CheckpointStore,
  ObjectStoreClient,
  type ObjectStoreLocation,
} from "@grail/storage";
import { WindowSkippedError } from "../mining/errors.js";
import type { CheckpointSource } from "../mining/ports.js";

/** A bucket and its read keys as a neuron committed them on chain (BucketCredentials of @grail/chain). */
export interface CommittedBucket {
  readonly name: string;
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface TrainerCheckpointsOptions {
  /** The subnet's readable bucket commitments by UID, as the chain (real or local) holds them now. */
  buckets: () => Promise<ReadonlyMap<number, { readonly bucket: CommittedBucket }>>;
  netuid: number;
  /** Where the trainer's bucket is served: R2 by default, R2_ENDPOINT_URL (or the local store) when set. */
  location: Pick<ObjectStoreLocation, "endpointUrl" | "region" | "forcePathStyle">;
  cacheRoot: string;
  logger?: Logger;
  /** The trainer's bucket as read at start, if it had committed one. */
  initial?: CommittedBucket | null;
}

/**
 * The trainer's checkpoints read the way miners and validators find them: the bucket and read keys
 * UID 0 committed on chain, then the checkpoint consumer (READY markers, FULL downloads, DELTA
 * reconstruction, cache). Unlike the reference (§11 item 14), a trainer without a readable
 * commitment is looked up again before each window instead of silently falling back to the miner's
 * own bucket for the process lifetime. Serves the mining engine and the local validator alike.
 */
export class TrainerCheckpoints implements CheckpointSource {
  private store: CheckpointStore | null = null;

  constructor(private readonly options: TrainerCheckpointsOptions) {
    if (options.initial) this.store = this.open(options.initial);
  }

  private open(bucket: CommittedBucket): CheckpointStore {
    const { location, logger } = this.options;
    const reader = new ObjectStoreClient({
      accountId: bucket.accountId,
      bucket: bucket.name,
      ...(location.endpointUrl ? { endpointUrl: location.endpointUrl } : {}),
      ...(location.region ? { region: location.region } : {}),
      ...(location.forcePathStyle ? { forcePathStyle: true } : {}),
      role: "read",
      credentials: { accessKeyId: bucket.accessKeyId, secretAccessKey: bucket.secretAccessKey },
    });
    return new CheckpointStore({
      reader,
      cacheRoot: this.options.cacheRoot,
      ...(logger
        ? { log: (event, fields) => logger.debug(event, { component: "checkpoints", ...fields }) }
        : {}),
    });
  }

  private async current(): Promise<CheckpointStore> {
    if (this.store) return this.store;
    const { netuid, logger } = this.options;
    const trainer = (await this.options.buckets()).get(TRAINER_UID);
    if (!trainer) {
      throw new WindowSkippedError(
        "no_checkpoint",
        `the trainer (UID ${TRAINER_UID}) has no readable bucket commitment on subnet ${netuid} yet`,
        { uid: TRAINER_UID, netuid },
      );
    }
    logger?.notice("found the trainer's bucket", { uid: TRAINER_UID, bucket: trainer.bucket.name });
    this.store = this.open(trainer.bucket);
    return this.store;
  }

  async latestReadyCheckpoint(window: number): Promise<number | null> {
    return (await this.current()).latestReadyCheckpoint(window);
  }

  async getMetadata(checkpointWindow: number): Promise<CheckpointMetadata | null> {
    return (await this.current()).getMetadata(checkpointWindow);
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
