export * from "./checks.js";
export * from "./cli.js";
export * from "./errors.js";
export * from "./local-validator.js";
export * from "./report.js";
export * from "./statistics.js";
export * from "./validate.js";
