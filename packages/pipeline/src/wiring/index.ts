export { type MiningWiring, type MiningWiringOptions, wireMining } from "./mining-deps.js";
export {
  type CommittedBucket,
  TrainerCheckpoints,
  type TrainerCheckpointsOptions,
} from "./trainer-checkpoints.js";
