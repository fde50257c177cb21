export * from "./mining/index.js";
export * from "./pool/index.js";
