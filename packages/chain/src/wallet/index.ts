export * from "./keyfile.js";
export * from "./keypair.js";
export * from "./load.js";
export * from "./signer.js";
