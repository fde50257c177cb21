export * from "./pool/index.js";
export * from "./mining/index.js";
