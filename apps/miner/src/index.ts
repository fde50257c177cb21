export { type MinerIo, runMiner, USAGE } from "./cli.js";
export { type VisibleGpus, visibleGpus } from "./gpus.js";
export {
  EXIT_CONFIG,
  EXIT_FAILURE,
  EXIT_OK,
  type MinerOverrides,
  runMining,
  type StartedParts,
} from "./miner.js";
export { formatProgress, ProgressLine } from "./progress.js";
