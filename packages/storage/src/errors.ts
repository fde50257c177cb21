import { GrailError } from "@grail/protocol";

/**
 * Typed storage errors. Every error names the bucket/key or local path it concerns and
 * says what the operator can do about it, because these surface in miner logs where the
 * reader has no stack context.
 */
export class StorageError extends GrailError {}

/** The credentials were rejected, missing, or used for an operation their role forbids. */
export class CredentialsError extends StorageError {}

/** A requested object does not exist (HTTP 404 / NoSuchKey). */
export class ObjectNotFoundError extends StorageError {
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(
      `object s3://${bucket}/${key} does not exist; check the key and that the publisher has uploaded it`,
      { bucket, key },
      options,
    );
  }
}

/** A transfer failed after every allowed attempt (network errors, 5xx, timeouts). */
export class TransferError extends StorageError {}

/** The deadline passed before a transfer could complete. */
export class UploadDeadlineError extends StorageError {
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly deadlineMs: number,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(
      `upload of s3://${bucket}/${key} did not complete before its deadline ${new Date(deadlineMs).toISOString()} ` +
        `after ${attempts} attempt(s); the object store is unreachable or too slow. ` +
        "Check R2_ENDPOINT_URL and the network",
      { bucket, key, deadlineMs, attempts },
      options,
    );
  }
}

/** The window file is outside the validator's accepted size range. */
export class WindowFileSizeError extends StorageError {}

/** A window Parquet file could not be written or read back in the expected shape. */
export class WindowFileFormatError extends StorageError {}

/** A spooled window file no longer matches its sidecar (size, sha256, footer, row count). */
export class SpoolFileCorruptError extends StorageError {}

/** A checkpoint cannot be found, is not READY, or its metadata is missing. */
export class CheckpointNotFoundError extends StorageError {}

/**
 * Downloaded checkpoint content failed verification (manifest sha256, zstd frame,
 * delta structure, weights hash). Such content is never installed in the cache.
 */
export class CheckpointIntegrityError extends StorageError {}

/** A checkpoint's `metadata.json` has a field of the wrong type or shape; `context` names it. */
export class CheckpointMetadataError extends CheckpointIntegrityError {}

/**
 * A name from checkpoint content (manifest entry, object key, index shard) would leave the
 * directory it is joined to, or a symbolic link under that directory would carry a write outside.
 */
export class UnsafePathError extends CheckpointIntegrityError {}

/** The weights reconstructed from a FULL base and DELTA chain do not hash to `weights_hash`. */
export class WeightsHashMismatchError extends CheckpointIntegrityError {}

/** A sparse delta payload (delta_sparse.bin.zst) is corrupt or inconsistent. */
export class DeltaFormatError extends CheckpointIntegrityError {}

/** A safetensors file is malformed or uses an unsupported dtype. */
export class SafetensorsFormatError extends StorageError {}
