export * from "./hub.js";
export * from "./synthetic.js";
