export { describeConfig, type MainnetGap, missingForMainnet } from "./describe.js";
export { findEnvFile, readEnvFile } from "./env-file.js";
export { ConfigError, type ConfigIssue } from "./errors.js";
export {
  checkGpuLayout,
  FLASH_ATTN_REFUSAL,
  type GpuLayout,
  type GpuLayoutSettings,
  physicalGpu,
  proofEngineFor,
} from "./gpu.js";
export { type LoadConfigOptions, loadConfig, NETWORK_ENDPOINTS } from "./load.js";
export { describeMonitoring, metricsAddress, wandbOffReason } from "./monitoring.js";
export {
  formatByteSize,
  PROOF_ENGINES,
  type ProofEngineChoice,
  type ProofEngineKind,
  parseByteSize,
  parseDeviceList,
  parseProofEngine,
  splitCommand,
} from "./parse.js";
export { DEFAULT_NETUID, SCHEMA, type Setting, settingEntries } from "./schema.js";
export type * from "./types.js";
export {
  editDistance,
  IGNORED_VARIABLES,
  ignoredVariablesWarning,
  nearestSetting,
  SETTING_PREFIXES,
  type UnknownVariable,
  unknownVariables,
} from "./unknown.js";
export { type ConfigWarning, configWarnings, hotkeyFile, isLoopback } from "./warnings.js";
