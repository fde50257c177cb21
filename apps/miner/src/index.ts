export { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, type MinerIo, runMiner, USAGE } from "./cli.js";
export { type VisibleGpus, visibleGpus } from "./gpus.js";
