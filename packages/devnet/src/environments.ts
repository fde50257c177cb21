import type { RandomnessSource } from "@grail/pipeline";
import { noDrandRandomness } from "@grail/protocol";

/** `create_env(env_id, env_params)` over the local network's problem sets. */
export { MiningEnvironments as LocalEnvironments } from "@grail/pipeline";

/**
 * Window randomness on the local network: there is no drand relay to reach, so it is the
 * validator's no-drand value sha256(block hash), never the schema-invalid raw hash.
 */
export function localRandomness(): RandomnessSource {
  return {
    drandEnabled: false,
    forWindow: async (blockHash) => ({ randomness: noDrandRandomness(blockHash), useDrand: false }),
  };
}
