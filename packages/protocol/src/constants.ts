/** Proof version written into every rollout; validators accept v4 and v5 (same algorithm). */
export const GRAIL_PROOF_VERSION = "v5";
export const PRIME_Q = 2147483647;
