/**
 * S3/R2 object-store client (spec/miner-pipeline.md §7.1, §7.3).
 *
 * One client holds one credential pair and one role. The miner builds two: a write
 * client for its own uploads and a read client for everything it downloads
 * (the trainer's checkpoints through the read keys the trainer committed on chain).
 * A read client refuses writes locally, so a wiring mistake fails loudly instead of
 * leaking the private write keys into a read path or vice versa.
 *
 * The file stays whole (just over 400 lines): it is the one class every S3 call goes through;
 * the failure typing, the transfer plan, resumable downloads and the types already live beside it.
 */
import { open, readFile, stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { RetryFailure, retry } from "@grail/util";
import PQueue from "p-queue";
import { allOrNothing } from "./all-or-nothing.js";
import { CredentialsError, ObjectNotFoundError, TransferError, UploadDeadlineError } from "./errors.js";
import { typedStoreError } from "./object-store-failure.js";
import type {
  CredentialRole,
  DownloadedObject,
  ObjectInfo,
  ObjectStoreClientOptions,
  ObjectStoreLocation,
  TransferOptions,
  UploadResult,
} from "./object-store-types.js";
import { downloadObjectToFile } from "./resumable-download.js";
import {
  DEFAULT_DOWNLOAD_TUNING,
  DEFAULT_UPLOAD_TUNING,
  planTransfer,
  type TransferTuning,
} from "./transfer-plan.js";
import {
  DEFAULT_RETRY_POLICY,
  isRetryableError,
  type RetryPolicy,
  transferBackoff,
} from "./transfer-policy.js";

export type {
  CredentialRole,
  DownloadedObject,
  ObjectInfo,
  ObjectStoreClientOptions,
  ObjectStoreCredentials,
  ObjectStoreLocation,
  TransferOptions,
  UploadResult,
} from "./object-store-types.js";

export function r2EndpointUrl(accountId: string): string {
  return `https://${accountId}.r2.cloudflarestorage.com`;
}

export function resolveEndpointUrl(location: ObjectStoreLocation): string {
  return location.endpointUrl && location.endpointUrl.length > 0
    ? location.endpointUrl
    : r2EndpointUrl(location.accountId);
}

export class ObjectStoreClient {
  readonly bucket: string;
  readonly role: CredentialRole;
  readonly endpointUrl: string;
  readonly accessKeyId: string;
  private readonly s3: S3Client;
  private readonly retry: RetryPolicy;
  private readonly uploadTuning: TransferTuning;
  private readonly downloadTuning: TransferTuning;
  private readonly requests: PQueue;
  private readonly maxBufferedDownloadBytes: number;

  constructor(opts: ObjectStoreClientOptions) {
    if (!opts.credentials.accessKeyId || !opts.credentials.secretAccessKey) {
      throw new CredentialsError(
        `no ${opts.role} credentials for bucket ${opts.bucket}: set R2_${opts.role.toUpperCase()}_ACCESS_KEY_ID and ` +
          `R2_${opts.role.toUpperCase()}_SECRET_ACCESS_KEY`,
        { bucket: opts.bucket, role: opts.role },
      );
    }
    if (!opts.bucket)
      throw new CredentialsError("no bucket configured: set R2_BUCKET_ID", { role: opts.role });
    this.bucket = opts.bucket;
    this.role = opts.role;
    this.accessKeyId = opts.credentials.accessKeyId;
    this.endpointUrl = resolveEndpointUrl(opts);
    this.retry = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.uploadTuning = opts.uploadTuning ?? DEFAULT_UPLOAD_TUNING;
    this.downloadTuning = opts.downloadTuning ?? DEFAULT_DOWNLOAD_TUNING;
    this.requests = new PQueue({ concurrency: opts.maxConcurrentRequests ?? 64 });
    this.maxBufferedDownloadBytes = opts.maxBufferedDownloadBytes ?? 1024 * 1024 * 1024;
    this.s3 = new S3Client({
      endpoint: this.endpointUrl,
      region: opts.region ?? "us-east-1",
      forcePathStyle: opts.forcePathStyle ?? false,
      credentials: { ...opts.credentials },
      // One retry layer only: ours, which knows the window deadline.
      maxAttempts: 1,
      // R2 and S3-compatible test servers do not all accept the SDK's default CRC trailers.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 3_000,
        requestTimeout: opts.readTimeoutMs ?? 30_000,
      },
    });
  }

  destroy(): void {
    this.s3.destroy();
  }

  // ------------------------------------------------------------------ reads

  /** Object size/etag, or null when the object does not exist. */
  async head(key: string, opts: TransferOptions = {}): Promise<ObjectInfo | null> {
    try {
      const out = await this.run(key, opts, (signal) =>
        this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal }),
      );
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag,
        lastModified: out.LastModified,
      };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
  }

  /** HEAD `<key>.gz` first, then `<key>` (the reference's probe order, §6.1). */
  async headWithGzipProbe(
    key: string,
    opts: TransferOptions = {},
  ): Promise<ObjectInfo & { gzipped: boolean }> {
    const gz = await this.head(`${key}.gz`, opts);
    if (gz) return { ...gz, gzipped: true };
    const plain = await this.head(key, opts);
    if (!plain) throw new ObjectNotFoundError(this.bucket, key);
    return { ...plain, gzipped: false };
  }

  /** Reads a whole object (or an inclusive byte range) into memory, no gzip probing. */
  async getBytes(key: string, opts: TransferOptions & { range?: [number, number] } = {}): Promise<Buffer> {
    const range = opts.range;
    return this.run(key, opts, async (signal) => {
      const out = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range[0]}-${range[1]}` : undefined,
        }),
        { abortSignal: signal },
      );
      if (!out.Body) throw new TransferError(`empty body for s3://${this.bucket}/${key}`, { key });
      const bytes = Buffer.from(await out.Body.transformToByteArray());
      if (range && bytes.length !== range[1] - range[0] + 1) {
        // A short body is a broken transfer, not a server answer: retry it.
        throw new TransferError(
          `short read of s3://${this.bucket}/${key} range ${range[0]}-${range[1]}: got ${bytes.length} bytes`,
          { key, range },
        );
      }
      return bytes;
    });
  }

  /**
   * Downloads an object into memory with the §7.3 plan (single GET or concurrent
   * ranges), probing `<key>.gz` first and gunzipping it transparently.
   */
  async download(key: string, opts: TransferOptions = {}): Promise<DownloadedObject> {
    const info = await this.headWithGzipProbe(key, opts);
    const sourceKey = info.gzipped ? `${key}.gz` : key;
    const plan = planTransfer(info.size, this.downloadTuning);
    let raw: Buffer;
    if (plan.kind === "single") {
      raw = await this.getBytes(sourceKey, opts);
    } else {
      const chunks = await allOrNothing(plan.concurrency, opts.signal, (signal) =>
        plan.parts.map((p) => () => this.getBytes(sourceKey, { ...opts, signal, range: [p.start, p.end] })),
      );
      raw = Buffer.concat(chunks);
    }
    if (raw.length !== info.size) {
      throw new TransferError(
        `download of s3://${this.bucket}/${sourceKey} returned ${raw.length} bytes, HEAD said ${info.size}`,
        { key: sourceKey },
      );
    }
    return { sourceKey, gzipped: info.gzipped, bytes: info.gzipped ? gunzipSync(raw) : raw };
  }

  /** Streams an object into `destPath`, atomically and resumably (see downloadObjectToFile). */
  downloadToFile(
    key: string,
    destPath: string,
    opts: TransferOptions = {},
  ): Promise<{ sourceKey: string; gzipped: boolean; size: number; resumedFrom: number }> {
    return downloadObjectToFile(
      this,
      this.downloadTuning,
      this.maxBufferedDownloadBytes,
      key,
      destPath,
      opts,
    );
  }

  /** Every key under `prefix`, following ListObjectsV2 continuation tokens. */
  async list(prefix: string, opts: TransferOptions & { pageSize?: number } = {}): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.run(prefix, opts, (signal) =>
        this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: opts.pageSize,
          }),
          { abortSignal: signal },
        ),
      );
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined) continue;
        out.push({ key: obj.Key, size: obj.Size ?? 0, etag: obj.ETag, lastModified: obj.LastModified });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  // ----------------------------------------------------------------- writes

  async putBytes(key: string, body: Uint8Array, opts: TransferOptions & { contentType?: string } = {}) {
    this.assertWriter("upload", key);
    let attempts = 0;
    const out = await this.run(
      key,
      opts,
      (signal) => {
        attempts++;
        return this.s3.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: body.byteLength,
            ContentType: opts.contentType,
          }),
          { abortSignal: signal },
        );
      },
      true,
    );
    return { key, size: body.byteLength, etag: out.ETag, multipart: false, attempts } satisfies UploadResult;
  }

  /**
   * Uploads a local file with the §7.3 plan: one PUT below the multipart threshold,
   * otherwise a multipart upload whose parts are retried individually; a failed
   * multipart upload is aborted so no orphan parts are billed.
   */
  async uploadFile(
    path: string,
    key: string,
    opts: TransferOptions & { contentType?: string } = {},
  ): Promise<UploadResult> {
    this.assertWriter("upload", key);
    const size = (await stat(path)).size;
    const plan = planTransfer(size, this.uploadTuning);
    if (plan.kind === "single") return this.putBytes(key, await readFile(path), opts);

    let attempts = 0;
    const created = await this.run(
      key,
      opts,
      (signal) => {
        attempts++;
        return this.s3.send(
          new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: opts.contentType }),
          { abortSignal: signal },
        );
      },
      true,
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new TransferError(`no UploadId for s3://${this.bucket}/${key}`, { key });
    const handle = await open(path, "r");
    try {
      const parts = await allOrNothing(plan.concurrency, opts.signal, (signal) =>
        plan.parts.map((part) => async () => {
          const length = part.end - part.start + 1;
          const body = Buffer.allocUnsafe(length);
          const { bytesRead } = await handle.read(body, 0, length, part.start);
          if (bytesRead !== length) {
            throw new TransferError(`${path} changed while uploading (short read at ${part.start})`, {
              path,
            });
          }
          const out = await this.run(
            key,
            { ...opts, signal },
            (attemptSignal) => {
              attempts++;
              return this.s3.send(
                new UploadPartCommand({
                  Bucket: this.bucket,
                  Key: key,
                  UploadId: uploadId,
                  PartNumber: part.partNumber,
                  Body: body,
                  ContentLength: length,
                }),
                { abortSignal: attemptSignal },
              );
            },
            true,
          );
          return { PartNumber: part.partNumber, ETag: out.ETag };
        }),
      );
      const done = await this.run(
        key,
        opts,
        (signal) => {
          attempts++;
          return this.s3.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
            { abortSignal: signal },
          );
        },
        true,
      );
      return { key, size, etag: done.ETag, multipart: true, attempts };
    } catch (err) {
      await this.abortMultipart(key, uploadId);
      throw err;
    } finally {
      await handle.close();
    }
  }

  async delete(key: string, opts: TransferOptions = {}): Promise<void> {
    this.assertWriter("delete", key);
    await this.run(key, opts, (signal) =>
      this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal }),
    );
  }

  private async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.s3.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
        {
          abortSignal: AbortSignal.timeout(5_000),
        },
      );
    } catch {
      // Best effort: the store expires abandoned uploads; the original error matters more.
    }
  }

  private assertWriter(operation: string, key: string): void {
    if (this.role !== "write") {
      throw new CredentialsError(
        `refusing to ${operation} s3://${this.bucket}/${key} with the read credentials (${this.accessKeyId}); ` +
          "writes use the write client built from R2_WRITE_ACCESS_KEY_ID/R2_WRITE_SECRET_ACCESS_KEY",
        { bucket: this.bucket, key, role: this.role, operation },
      );
    }
  }

  /** One request under the client-wide concurrency limit, retried per policy, errors typed. */
  private async run<T>(
    key: string,
    opts: TransferOptions,
    op: (signal: AbortSignal) => Promise<T>,
    isUpload = false,
  ): Promise<T> {
    try {
      return await retry(
        (signal) => this.requests.add(() => op(signal), { throwOnTimeout: true, signal }) as Promise<T>,
        {
          attempts: this.retry.maxAttempts,
          attemptTimeoutMs: this.retry.attemptTimeoutMs,
          backoff: transferBackoff(this.retry),
          isRetryable: isRetryableError,
          deadlineMs: opts.deadlineMs,
          signal: opts.signal,
        },
      );
    } catch (err) {
      if (!(err instanceof RetryFailure)) throw err;
      if (err.reason === "deadline" && isUpload && opts.deadlineMs !== undefined) {
        throw new UploadDeadlineError(this.bucket, key, opts.deadlineMs, err.attempts, {
          cause: err.lastError,
        });
      }
      throw typedStoreError(this, key, err);
    }
  }
}
