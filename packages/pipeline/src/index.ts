export * from "./mining/index.js";
export * from "./pool/index.js";
export * from "./wiring/index.js";
