import type { TransferTuning } from "./transfer-plan.js";
import type { RetryPolicy } from "./transfer-policy.js";

export type CredentialRole = "read" | "write";

export interface ObjectStoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ObjectStoreLocation {
  /** Cloudflare account id; also the default endpoint host. */
  accountId: string;
  /** Bucket name (on R2 it must equal the account id, §6.5). */
  bucket: string;
  /** Overrides the R2 endpoint for every client (R2_ENDPOINT_URL), e.g. s3rver/minio on loopback. */
  endpointUrl?: string;
  /** Signing region (R2_REGION); R2 accepts us-east-1 and auto. */
  region?: string;
  /** Path-style addressing (R2_FORCE_PATH_STYLE); needed by s3rver/minio. */
  forcePathStyle?: boolean;
}

export interface ObjectStoreClientOptions extends ObjectStoreLocation {
  role: CredentialRole;
  credentials: ObjectStoreCredentials;
  retry?: Partial<RetryPolicy>;
  uploadTuning?: TransferTuning;
  downloadTuning?: TransferTuning;
  /** Requests in flight at once across all transfers of this client. */
  maxConcurrentRequests?: number;
  /** Upper bound on downloaded bytes held in memory while streaming a file. */
  maxBufferedDownloadBytes?: number;
  connectTimeoutMs?: number;
  /** Socket idle timeout of a request (the SDK's requestTimeout). */
  readTimeoutMs?: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string | undefined;
  lastModified: Date | undefined;
}

export interface TransferOptions {
  /** Absolute epoch ms; no attempt starts after it. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface UploadResult {
  key: string;
  size: number;
  etag: string | undefined;
  multipart: boolean;
  attempts: number;
}

export interface DownloadedObject {
  /** The key actually read (`<key>.gz` when the gzip variant exists). */
  sourceKey: string;
  gzipped: boolean;
  bytes: Buffer;
}
