/**
 * S3/R2 object-store client (spec/miner-pipeline.md §7.1, §7.3).
 *
 * One client holds one credential pair and one role. The miner builds two: a write
 * client for its own uploads and a read client for everything it downloads
 * (the trainer's checkpoints through the read keys the trainer committed on chain).
 * A read client refuses writes locally, so a wiring mistake fails loudly instead of
 * leaking the private write keys into a read path or vice versa.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip, gunzipSync } from "node:zlib";
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
import PQueue from "p-queue";
import { CredentialsError, ObjectNotFoundError, TransferError, UploadDeadlineError } from "./errors.js";
import {
  DEFAULT_RETRY_POLICY,
  errorMessage,
  errorName,
  httpStatusOf,
  RetryFailure,
  type RetryPolicy,
  withRetries,
} from "./retry.js";
import {
  DEFAULT_DOWNLOAD_TUNING,
  DEFAULT_UPLOAD_TUNING,
  planTransfer,
  splitRanges,
  type TransferTuning,
} from "./transfer-plan.js";

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

  /**
   * Streams an object into `destPath` atomically (written to `<dest>.part`, renamed when
   * complete) and resumably: a `<dest>.part` left by an interrupted run for the same
   * object (same key, size and ETag, recorded in `<dest>.part.json`) is continued with a
   * Range request from its current size instead of starting over.
   */
  async downloadToFile(
    key: string,
    destPath: string,
    opts: TransferOptions = {},
  ): Promise<{ sourceKey: string; gzipped: boolean; size: number; resumedFrom: number }> {
    const info = await this.headWithGzipProbe(key, opts);
    const sourceKey = info.gzipped ? `${key}.gz` : key;
    const staging = `${destPath}.part`;
    const sidecar = `${destPath}.part.json`;
    await mkdir(dirname(destPath), { recursive: true });
    const identity = { bucket: this.bucket, key: sourceKey, size: info.size, etag: info.etag ?? null };
    let resumeFrom = 0;
    try {
      const previous = JSON.parse(await readFile(sidecar, "utf8")) as typeof identity;
      const partial = await stat(staging);
      if (
        previous.bucket === identity.bucket &&
        previous.key === identity.key &&
        previous.size === identity.size &&
        previous.etag === identity.etag &&
        partial.size <= info.size
      ) {
        resumeFrom = partial.size;
      }
    } catch {
      resumeFrom = 0;
    }
    if (resumeFrom === 0) {
      await rm(staging, { force: true });
      await writeFile(sidecar, JSON.stringify(identity));
    }

    const plan = planTransfer(info.size - resumeFrom, this.downloadTuning);
    const partSize = plan.kind === "single" ? Math.max(1, info.size - resumeFrom) : plan.partSize;
    const concurrency =
      plan.kind === "single"
        ? 1
        : Math.max(1, Math.min(plan.concurrency, Math.floor(this.maxBufferedDownloadBytes / partSize)));
    const ranges = splitRanges(info.size, partSize, resumeFrom);
    const handle = await open(staging, resumeFrom === 0 ? "w" : "a");
    const queue = new PQueue({ concurrency });
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    try {
      // Ranges are fetched concurrently but appended strictly in order, so the staging
      // file is always a contiguous prefix of the object: its size is the resume point.
      const pending = ranges.map((r) =>
        queue.add(() => this.getBytes(sourceKey, { ...opts, signal, range: [r.start, r.end] }), {
          throwOnTimeout: true,
        }),
      );
      for (const p of pending) p.catch(() => undefined);
      for (const p of pending) {
        const chunk = await p;
        await handle.write(chunk);
      }
    } catch (err) {
      queue.clear();
      stop.abort();
      throw err;
    } finally {
      await handle.close();
    }
    const written = (await stat(staging)).size;
    if (written !== info.size) {
      throw new TransferError(
        `download of s3://${this.bucket}/${sourceKey} wrote ${written} of ${info.size} bytes; run again to resume`,
        { key: sourceKey, path: staging },
      );
    }
    if (info.gzipped) {
      const tmp = `${destPath}.gunzip`;
      await pipeline(createReadStream(staging), createGunzip(), createWriteStream(tmp));
      await rename(tmp, destPath);
      await rm(staging, { force: true });
    } else {
      await rename(staging, destPath);
    }
    await rm(sidecar, { force: true });
    return { sourceKey, gzipped: info.gzipped, size: info.size, resumedFrom: resumeFrom };
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
      return await withRetries(
        (signal) => this.requests.add(() => op(signal), { throwOnTimeout: true, signal }) as Promise<T>,
        { policy: this.retry, deadlineMs: opts.deadlineMs, signal: opts.signal },
      );
    } catch (err) {
      if (!(err instanceof RetryFailure)) throw err;
      if (err.reason === "deadline" && isUpload && opts.deadlineMs !== undefined) {
        throw new UploadDeadlineError(this.bucket, key, opts.deadlineMs, err.attempts, {
          cause: err.lastError,
        });
      }
      throw this.typedError(key, err);
    }
  }

  private typedError(key: string, failure: RetryFailure): Error {
    const cause = failure.lastError;
    if (cause instanceof TransferError || cause instanceof CredentialsError) return cause;
    const status = httpStatusOf(cause);
    const name = errorName(cause);
    if (status === 404 || name === "NoSuchKey" || name === "NotFound") {
      return new ObjectNotFoundError(this.bucket, key, { cause });
    }
    if (
      status === 401 ||
      status === 403 ||
      name === "InvalidAccessKeyId" ||
      name === "SignatureDoesNotMatch" ||
      name === "AccessDenied"
    ) {
      const envPrefix = `R2_${this.role.toUpperCase()}`;
      return new CredentialsError(
        `s3://${this.bucket}/${key} rejected the ${this.role} credentials (${this.accessKeyId}): ${name || status}. ` +
          `Check ${envPrefix}_ACCESS_KEY_ID/${envPrefix}_SECRET_ACCESS_KEY and the key's permissions on the bucket`,
        { bucket: this.bucket, key, role: this.role, status, code: name },
        { cause },
      );
    }
    return new TransferError(
      `s3://${this.bucket}/${key} failed (${failure.reason} after ${failure.attempts} attempt(s)) at ${this.endpointUrl}: ` +
        `${errorMessage(cause)}. Check network reachability of the endpoint`,
      { bucket: this.bucket, key, attempts: failure.attempts, reason: failure.reason },
      { cause },
    );
  }
}

export interface DualCredentialsConfig extends ObjectStoreLocation {
  read: ObjectStoreCredentials;
  write: ObjectStoreCredentials;
}

/**
 * The miner's own bucket clients: writes with the private write keys, reads with the
 * read keys it commits on chain. The two never share a credential object.
 */
export function createDualClients(
  config: DualCredentialsConfig,
  shared: Omit<ObjectStoreClientOptions, keyof ObjectStoreLocation | "role" | "credentials"> = {},
): { reader: ObjectStoreClient; writer: ObjectStoreClient } {
  const { read, write, ...location } = config;
  return {
    reader: new ObjectStoreClient({ ...shared, ...location, role: "read", credentials: { ...read } }),
    writer: new ObjectStoreClient({ ...shared, ...location, role: "write", credentials: { ...write } }),
  };
}

/**
 * Runs tasks with bounded concurrency; the first failure cancels the queued tasks and
 * aborts the running ones (through the signal handed to the task factory), so a broken
 * transfer does not keep sending requests after its result is already lost.
 */
async function allOrNothing<T>(
  concurrency: number,
  outer: AbortSignal | undefined,
  makeTasks: (signal: AbortSignal) => Array<() => Promise<T>>,
): Promise<T[]> {
  const stop = new AbortController();
  const signal = outer ? AbortSignal.any([outer, stop.signal]) : stop.signal;
  const queue = new PQueue({ concurrency });
  const tasks = makeTasks(signal).map((task) => queue.add(task, { throwOnTimeout: true }) as Promise<T>);
  try {
    return await Promise.all(tasks);
  } catch (err) {
    queue.clear();
    stop.abort();
    await Promise.allSettled(tasks);
    throw err;
  }
}
