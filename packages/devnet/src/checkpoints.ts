import type { Logger } from "@grail/log";
import { TrainerCheckpoints } from "@grail/pipeline";
import type { Devnet } from "./devnet.js";

export { TrainerCheckpoints, type TrainerCheckpointsOptions } from "@grail/pipeline";

/**
 * The trainer's checkpoints on the local network, found the way a miner or validator finds them:
 * the bucket and read keys UID 0 committed on the local chain, served by the local store.
 */
export function localTrainerCheckpoints(
  devnet: Pick<Devnet, "chain" | "storeLocation">,
  cacheRoot: string,
  logger?: Logger,
): TrainerCheckpoints {
  return new TrainerCheckpoints({
    buckets: () => devnet.chain.buckets(),
    netuid: devnet.chain.netuid,
    location: devnet.storeLocation,
    cacheRoot,
    ...(logger ? { logger } : {}),
  });
}
