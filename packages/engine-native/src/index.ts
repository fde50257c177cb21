export { type AccuracyReport, compareProofs, identicalProofs, type ProofFigures } from "./accuracy.js";
export { availableBackends, type Backend, type BackendReport, type CudaDevice } from "./backends.js";
export { type ModelInfo, type ModelType, readModelConfig } from "./config.js";
export { EngineError, type EngineErrorCode } from "./errors.js";
export {
  batchMemoryNeed,
  defaultPromptTokens,
  type ModelConfigSource,
  type ProofGroupShape,
  type ProofMemoryNeed,
  proofMemoryNeed,
} from "./memory.js";
export {
  type LoadOptions,
  loadModel,
  type ProofModel,
  type ProofModelDiagnostics,
  type ProveOptions,
  type RolloutInput,
  type RolloutProof,
} from "./model.js";
export { type BuildInfo, readBuildInfo } from "./native.js";
export {
  type EngineProfile,
  PROFILE_STAGES,
  type ProfileStage,
  type ProfileStageName,
  parseProfile,
} from "./profile.js";
export { type RandomModelOptions, writeRandomModel } from "./random-model.js";
export {
  readSafetensorsHeader,
  type SafetensorsEntry,
  type TensorToWrite,
  writeSafetensors,
} from "./safetensors.js";
