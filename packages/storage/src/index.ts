export * from "./errors.js";
export * from "./object-store.js";
export * from "./retry.js";
export * from "./transfer-plan.js";
export * from "./window-file.js";
export * from "./window-upload.js";
