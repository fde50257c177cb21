export * from "./capture.js";
