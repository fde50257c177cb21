import { resolve } from "node:path";
import {
  type DrandClient,
  readSubnetBuckets,
  type SubtensorClient,
  WindowClock,
  windowRandomness,
} from "@grail/chain";
import type { Logger } from "@grail/log";
import type { CheckpointLoadMethod } from "@grail/metrics";
import type { CheckpointSource, MiningChain, RandomnessSource } from "@grail/pipeline";
import { WindowSkippedError } from "@grail/pipeline";
import { TRAINER_UID } from "@grail/protocol";
import {
  type CheckpointMetadata,
  CheckpointStore,
  ObjectStoreClient,
  type ObjectStoreLocation,
} from "@grail/storage";

/** The chain as the window loop reads it: best head, block hashes, and waiting on new heads. */
export function miningChain(client: SubtensorClient): MiningChain {
  const clock = new WindowClock(client, { pollIntervalMs: 1_000 });
  return {
    currentBlock: () => client.currentBlock(),
    blockHash: (block) => client.blockHash(block),
    waitForBlock: (target, signal) => clock.waitForBlock(target, signal),
    subscribeHeads: (onHead) => client.subscribeNewHeads((head) => onHead(head.number)),
  };
}

/** Window randomness from the block hash and, unless `--no-drand`, the latest verified drand beacon. */
export function randomnessSource(drand: DrandClient | null, logger: Logger): RandomnessSource {
  const log = logger.child({ component: "drand" });
  return {
    drandEnabled: drand !== null,
    forWindow: async (blockHash) => {
      const r = await windowRandomness(blockHash, drand, {
        debug: (m, f) => log.debug(m, f),
        info: (m, f) => log.info(m, f),
        warn: (m, f) => log.warn(m, f),
      });
      return { randomness: r.randomness, useDrand: r.useDrand };
    },
  };
}

export interface TrainerCheckpointsOptions {
  client: SubtensorClient;
  netuid: number;
  /** Where the trainer's bucket is served: R2 by default, R2_ENDPOINT_URL when set. */
  location: Pick<ObjectStoreLocation, "endpointUrl" | "region" | "forcePathStyle">;
  cacheRoot: string;
  logger: Logger;
  /** The trainer's bucket as read at start, if it had committed one. */
  initial?: { accountId: string; accessKeyId: string; secretAccessKey: string } | null;
}

/**
 * The trainer's checkpoints, read with the credentials UID 0 committed on chain. Unlike the
 * reference (§11 item 14), a trainer without a readable commitment is looked up again before each
 * window instead of silently falling back to the miner's own bucket for the process lifetime.
 */
export class TrainerCheckpoints implements CheckpointSource {
  private store: CheckpointStore | null = null;
  private key = "";

  constructor(private readonly options: TrainerCheckpointsOptions) {
    if (options.initial) this.use(options.initial);
  }

  private use(bucket: { accountId: string; accessKeyId: string; secretAccessKey: string }): CheckpointStore {
    const key = `${bucket.accountId}/${bucket.accessKeyId}/${bucket.secretAccessKey}`;
    if (this.store && key === this.key) return this.store;
    const { location } = this.options;
    const reader = new ObjectStoreClient({
      accountId: bucket.accountId,
      bucket: bucket.accountId,
      ...(location.endpointUrl ? { endpointUrl: location.endpointUrl } : {}),
      ...(location.region ? { region: location.region } : {}),
      ...(location.forcePathStyle ? { forcePathStyle: true } : {}),
      role: "read",
      credentials: { accessKeyId: bucket.accessKeyId, secretAccessKey: bucket.secretAccessKey },
    });
    this.store = new CheckpointStore({
      reader,
      cacheRoot: this.options.cacheRoot,
      log: (event, fields) => this.options.logger.debug(event, { component: "checkpoints", ...fields }),
    });
    this.key = key;
    return this.store;
  }

  private async current(): Promise<CheckpointStore> {
    if (this.store) return this.store;
    const buckets = await readSubnetBuckets(this.options.client, this.options.netuid);
    const trainer = buckets.byUid.get(TRAINER_UID);
    if (!trainer) {
      throw new WindowSkippedError(
        "no_checkpoint",
        `the trainer (UID ${TRAINER_UID}) has no readable bucket commitment on subnet ${this.options.netuid} yet`,
      );
    }
    this.options.logger.notice("found the trainer's bucket", {
      uid: TRAINER_UID,
      bucket: trainer.bucket.name,
    });
    return this.use(trainer.bucket);
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
    else {
      const meta = await store.getMetadata(checkpointWindow);
      method = meta?.checkpoint_type === "DELTA" ? "delta" : "full";
    }
    return { dir: resolve(await store.getCheckpoint(checkpointWindow)), method };
  }

  async cleanupLocal(currentWindow: number): Promise<unknown> {
    return this.store?.cleanupLocal(currentWindow);
  }
}

/** `create_env(env_id, env_params)` for the miner; shared with the local network's validator. */
export { MiningEnvironments as Environments } from "@grail/pipeline";
