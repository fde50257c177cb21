import type { RetryFailure } from "@grail/util";
import { CredentialsError, ObjectNotFoundError, TransferError } from "./errors.js";
import type { CredentialRole } from "./object-store-types.js";
import { errorMessage, errorName, httpStatusOf } from "./transfer-policy.js";

/** The client a failed request went through, as its error messages name it. */
export interface StoreClientIdentity {
  readonly bucket: string;
  readonly role: CredentialRole;
  readonly accessKeyId: string;
  readonly endpointUrl: string;
}

/**
 * The typed error of a request that failed for good: a missing object, credentials the store
 * rejected (naming the settings to check), or a transfer failure with its reason and attempts.
 */
export function typedStoreError(client: StoreClientIdentity, key: string, failure: RetryFailure): Error {
  const cause = failure.lastError;
  if (cause instanceof TransferError || cause instanceof CredentialsError) return cause;
  const status = httpStatusOf(cause);
  const name = errorName(cause);
  if (status === 404 || name === "NoSuchKey" || name === "NotFound") {
    return new ObjectNotFoundError(client.bucket, key, { cause });
  }
  if (
    status === 401 ||
    status === 403 ||
    name === "InvalidAccessKeyId" ||
    name === "SignatureDoesNotMatch" ||
    name === "AccessDenied"
  ) {
    const envPrefix = `R2_${client.role.toUpperCase()}`;
    return new CredentialsError(
      `s3://${client.bucket}/${key} rejected the ${client.role} credentials (${client.accessKeyId}): ${name || status}. ` +
        `Check ${envPrefix}_ACCESS_KEY_ID/${envPrefix}_SECRET_ACCESS_KEY and the key's permissions on the bucket`,
      { bucket: client.bucket, key, role: client.role, status, code: name },
      { cause },
    );
  }
  return new TransferError(
    `s3://${client.bucket}/${key} failed (${failure.reason} after ${failure.attempts} attempt(s)) at ${client.endpointUrl}: ` +
      `${errorMessage(cause)}. Check network reachability of the endpoint`,
    { bucket: client.bucket, key, attempts: failure.attempts, reason: failure.reason },
    { cause },
  );
}
