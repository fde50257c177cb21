// The local validator's report lines, for the miner's local mode (the validator is @grail/validator).
export { formatReport, verdictLine } from "@grail/validator";
export * from "./block-time.js";
export * from "./chain/chopsticks-chain.js";
export * from "./chain/embedded-chain.js";
export * from "./chain/local-chain.js";
export * from "./checkpoints.js";
export * from "./devnet.js";
export * from "./environments.js";
export * from "./errors.js";
export * from "./mining.js";
export * from "./store/object-store.js";
export * from "./trainer/tiny-model.js";
export * from "./trainer/trainer.js";
