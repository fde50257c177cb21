export * from "./constants.js";
export type * from "./rollout.js";
