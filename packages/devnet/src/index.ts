export * from "./chain/chopsticks-chain.js";
export * from "./chain/embedded-chain.js";
export * from "./chain/local-chain.js";
export * from "./devnet.js";
export * from "./errors.js";
export * from "./store/object-store.js";
export * from "./trainer/tiny-model.js";
export * from "./trainer/trainer.js";
