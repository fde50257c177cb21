export {
  BatchedGenerator,
  type BatchingOptions,
  type RawOutput,
  type RequestRetryPolicy,
} from "./batching.js";
export * from "./colocation.js";
export * from "./errors.js";
export { ReadWriteGate } from "./gate.js";
export * from "./generation-server.js";
export { HttpStatusError } from "./http.js";
export * from "./launch-options.js";
export * from "./launch-settings.js";
export * from "./native/engine.js";
export * from "./native/logits-model.js";
export * from "./native/sampler.js";
export * from "./native/server.js";
export { freePort } from "./net.js";
export * from "./sampling-policy.js";
export * from "./sglang/client.js";
export * from "./sglang/launch.js";
export * from "./supervisor.js";
export * from "./tokenizer/chat-tokenizer.js";
export * from "./tokenizer/thinking.js";
export type * from "./types.js";
export * from "./vllm/client.js";
export * from "./vllm/launch.js";
export * from "./weight-sync.js";
