export * from "./checks.js";
export * from "./cli.js";
export * from "./errors.js";
export * from "./input.js";
export * from "./local-validator.js";
export { formatReport, type ValidationReport, type Verdict, verdictLine } from "./report.js";
export * from "./statistics.js";
export * from "./validate.js";
