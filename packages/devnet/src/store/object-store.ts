import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage, Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
// @ts-expect-error s3rver ships no type declarations
import S3rver from "s3rver";
import { DevnetStartError } from "../errors.js";

const require = createRequire(import.meta.url);
const Account = require("s3rver/lib/models/account.js") as {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void };
};

export interface AccessKeyPair {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** One bucket of the local store, named after its account id as R2 buckets are. */
export interface LocalBucket {
  readonly accountId: string;
  readonly name: string;
  /** May only GET/HEAD/list this bucket (what a neuron commits on chain). */
  readonly read: AccessKeyPair;
  /** May read and write this bucket (stays with its owner). */
  readonly write: AccessKeyPair;
}

export interface LocalObjectStore {
  /** http://127.0.0.1:<port>; clients need path-style addressing. */
  readonly endpointUrl: string;
  readonly dir: string;
  readonly buckets: ReadonlyMap<string, LocalBucket>;
  bucket(name: string): LocalBucket;
  close(): Promise<void>;
}

export interface LocalObjectStoreOptions {
  /** Bucket (= account id) names: 3–32 characters of [a-z0-9-]. */
  buckets: readonly string[];
  /** Where objects live; a fresh temporary directory (removed on close) when absent. */
  dir?: string;
  port?: number;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
  middleware: ((ctx: KoaContext, next: () => Promise<unknown>) => unknown)[];
}

interface KoaContext {
  req: IncomingMessage;
  method: string;
  path: string;
  status: number;
  type: string;
  body: unknown;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$/;
const CREDENTIAL = /Credential=([^/\s,]+)\//;

function keyPair(): AccessKeyPair {
  return {
    accessKeyId: `devnet${randomBytes(10).toString("hex")}`,
    secretAccessKey: randomBytes(24).toString("hex"),
  };
}

function accessKeyOf(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  const fromHeader = typeof header === "string" ? CREDENTIAL.exec(header)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  const url = new URL(req.url ?? "/", "http://local");
  const credential = url.searchParams.get("X-Amz-Credential");
  return credential ? (credential.split("/")[0] ?? null) : null;
}

/**
 * An S3-compatible store on 127.0.0.1 (s3rver) holding the local network's buckets. Each bucket
 * gets its own key pairs, and a policy in front of s3rver enforces what R2 API tokens do: a read
 * key may only read its bucket, a write key may read and write only its bucket.
 */
export async function startLocalObjectStore(options: LocalObjectStoreOptions): Promise<LocalObjectStore> {
  for (const name of options.buckets) {
    if (!BUCKET_NAME.test(name)) {
      throw new DevnetStartError(
        `bucket name ${JSON.stringify(name)} must be 3–32 characters of a-z, 0-9 and '-' (it doubles as the account id)`,
        { part: "object store", bucket: name },
      );
    }
  }
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), "grail-devnet-s3-")));
  await mkdir(dir, { recursive: true });

  const buckets = new Map<string, LocalBucket>();
  const policy = new Map<string, { bucket: string; write: boolean }>();
  for (const name of options.buckets) {
    const bucket: LocalBucket = { accountId: name, name, read: keyPair(), write: keyPair() };
    buckets.set(name, bucket);
    policy.set(bucket.read.accessKeyId, { bucket: name, write: false });
    policy.set(bucket.write.accessKeyId, { bucket: name, write: true });
    Account.DUMMY_ACCOUNT.createKeyPair(bucket.read.accessKeyId, bucket.read.secretAccessKey);
    Account.DUMMY_ACCOUNT.createKeyPair(bucket.write.accessKeyId, bucket.write.secretAccessKey);
  }

  const s3 = new S3rver({
    address: "127.0.0.1",
    port: options.port ?? 0,
    silent: true,
    directory: dir,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  }) as S3rverInstance;
  s3.middleware.unshift(async (ctx, next) => {
    const key = accessKeyOf(ctx.req);
    const rule = key === null ? undefined : policy.get(key);
    const bucket = ctx.path.split("/")[1] ?? "";
    const writing = !["GET", "HEAD"].includes(ctx.method);
    const denied = !rule
      ? "unknown access key"
      : rule.bucket !== bucket
        ? "key of another bucket"
        : writing && !rule.write
          ? "read-only key"
          : null;
    if (denied) {
      ctx.status = 403;
      ctx.type = "application/xml";
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied (${denied})</Message></Error>`;
      return;
    }
    await next();
  });

  let port: number;
  try {
    ({ port } = await s3.run());
  } catch (err) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw new DevnetStartError(
      `the local object store did not start: ${(err as Error).message}`,
      { part: "object store" },
      { cause: err },
    );
  }
  let closed = false;
  return {
    endpointUrl: `http://127.0.0.1:${port}`,
    dir,
    buckets,
    bucket(name) {
      const b = buckets.get(name);
      if (!b) throw new DevnetStartError(`the local store has no bucket ${name}`, { bucket: name });
      return b;
    },
    async close() {
      if (closed) return;
      closed = true;
      const server = s3.httpServer;
      if (server?.listening) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      for (const key of policy.keys()) Account.DUMMY_ACCOUNT.revokeAccessKey(key);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
