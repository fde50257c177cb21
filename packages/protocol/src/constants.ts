/**
 * Protocol constants of GRAIL proof version v5 (spec/protocol.md §1). Names follow the
 * reference implementation so that a reader can grep both code bases side by side.
 */

/** Proof version written into every rollout; validators accept v4 and v5 (same algorithm). */
export const GRAIL_PROOF_VERSION = "v5";
/** Proof versions a validator accepts (§4.3). */
export const ACCEPTED_PROOF_VERSIONS: readonly string[] = ["v4", "v5"];

/** Sketch modulus, 2^31 − 1. */
export const PRIME_Q = 2147483647;
/** Challenged positions per rollout; also the minimum completion length. */
export const CHALLENGE_K = 32;
/** Activations per position that enter the sketch. */
export const PROOF_TOPK = 16;
/** Buckets per sign; bucket values lie in [−7, 7]. */
export const PROOF_NUM_BUCKETS = 8;
/** Sketch coefficients lie in [−127, 127]. */
export const PROOF_COEFF_RANGE = 127;
export const PROOF_SKETCH_TOLERANCE_BASE = 6000;
export const PROOF_SKETCH_TOLERANCE_GROWTH = 5.0;
/** Committed layer: the last hidden state after the final norm. */
export const LAYER_INDEX = -1;
/** Forward-pass sub-batch size used by miner and validator. */
export const PROOF_BATCH_SIZE = 16;

/** PRF domain labels; `sat` is legacy and unused by v5. */
export const RNG_LABEL = { sketch: "sketch", open: "open", sat: "sat" } as const;
/** Attention kernel both sides load the model with (spec §10.1). */
export const ATTN_IMPLEMENTATION = "flash_attention_2";

export const WINDOW_LENGTH = 30;
export const BLOCK_TIME_SECONDS = 12;
/** GRPO group size, enforced exactly. */
export const ROLLOUTS_PER_PROBLEM = 16;
/** Absolute cap on completion length. */
export const MAX_NEW_TOKENS_PROTOCOL_CAP = 8192;
export const MIN_EOS_PROBABILITY = 0.02;
/** Defined by the reference but unused; the live logprob threshold is LOGPROB_IS_EPS. */
export const SANITY_CHECK_DRIFT_THRESHOLD = 0.1;
/** Median of exp(|Δlogprob|) − 1 over the challenged positions must not exceed this. */
export const LOGPROB_IS_EPS = 0.1;
/** Soft checks ban at max(1, ceil(threshold · checked rollouts)) failures (`soft_threshold`). */
export const REWARD_SOFT_THRESHOLD = 0.2;
export const DISTRIBUTION_SOFT_THRESHOLD = 0.51;
export const REWARD_REL_TOL = 0.02;
export const REWARD_ABS_TOL = 1e-6;
/** |Σ advantages| per group must not exceed this. */
export const GRPO_ADV_SUM_TOLERANCE = 0.01;
/** Each advantage must be within this of the recomputed value. */
export const GRPO_ADV_ELEMENT_TOLERANCE = 1e-3;
/** Floor of the population standard deviation in the advantage formula. */
export const GRPO_STD_FLOOR = 1e-8;

export const MIN_ROLLOUT_FILE_SIZE_BYTES = 200;
export const MAX_ROLLOUT_FILE_SIZE_BYTES = 367001600;

export const SAMPLING_MIN_STEPS = 30;
export const SAMPLING_MEDIAN_LOW_MAX = 0.3;
export const SAMPLING_LOW_Q10_MAX = 0.025;
export const SAMPLING_MIN_TOKEN_PROB = 1e-5;
export const SAMPLING_INITIAL_WINDOW_STEPS = 50;
/** Metric-only thresholds of the distribution check (not gating). */
export const SAMPLING_LOW_P = 0.1;
export const SAMPLING_HIGH_P = 0.9;
export const SAMPLING_LOW_FRAC_MIN = 0.2;
export const SAMPLING_HIGH_FRAC_MIN = 0.5;
export const SAMPLING_MID_FRAC_MAX = 0.4;

export const MINER_SAMPLE_RATE = 0.25;
export const MINER_SAMPLE_MIN = 2;
export const MINER_SAMPLE_MAX = 35;
export const FAILURE_LOOKBACK_WINDOWS = 14;
/** Scoring cap on unique rollouts per window. */
export const UNIQUE_ROLLOUTS_CAP = 5000;
export const SUPERLINEAR_EXPONENT = 4.0;
export const GRAIL_BURN_UID = 0;
export const GRAIL_BURN_PERCENTAGE = 90.0;
/** UID whose bucket hosts the checkpoints. */
export const TRAINER_UID = 0;
export const CURRENT_ENV_ID = "triton_kernel";
export const CHECKPOINT_PREFIX = "grail/checkpoints/";
/** Prefix of window files in a miner's bucket (§6.5). */
export const WINDOW_FILE_PREFIX = "grail/windows/";

/** Defined by the reference, unused by its live code. */
export const DRAND_FUTURE_BUFFER = 30;
export const BLOCK_TIME_VARIANCE = 3;
export const NETWORK_UPLOAD_LATENCY = 30;
export const UPLOAD_GRACE_PERIOD = BLOCK_TIME_VARIANCE + NETWORK_UPLOAD_LATENCY;

/** Upload deadline offset against the timestamp of the next window's first block. */
export const DEADLINE_SLACK_SECONDS = -4.0;

export const MAX_SAMPLES_PER_MINER_THRESHOLD = 20;
export const MAX_SAMPLES_PER_MINER = 64;
export const SAMPLE_RATE = 0.1;
export const COPYCAT_WINDOW_THRESHOLD = 0.05;
export const COPYCAT_INTERVAL_THRESHOLD = 0.03;
export const WEIGHT_SUBMISSION_INTERVAL_BLOCKS = 360;

/** Domain tag of the commit binding (ASCII, 15 bytes). */
export const COMMIT_DOMAIN = "grail-commit-v1";

/** Sequence-length limit the validator assumes when the model config names none (§7.4 P2). */
export const DEFAULT_MAX_SEQUENCE_LENGTH = 16384;

/** drand quicknet, the only chain on the reference's live path (§5.2). */
export const DRAND_QUICKNET = {
  chainHash: "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
  genesisTime: 1692803367,
  period: 3,
  relays: ["https://api.drand.sh", "https://drand.cloudflare.com", "https://api.drand.secureweb3.com:6875"],
} as const;
