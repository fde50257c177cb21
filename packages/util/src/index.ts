export { mulberry32 } from "./random.js";
export {
  type Backoff,
  backoffSchedule,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  RetryFailure,
  type RetryFailureReason,
  type RetryInfo,
  type RetryOptions,
  retry,
} from "./retry.js";
