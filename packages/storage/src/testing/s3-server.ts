/**
 * A real S3-compatible server (s3rver) on 127.0.0.1, started by tests on an ephemeral
 * port over a temp directory, with an outage switch: stop() closes the listener and every
 * connection, start() serves again on the same port.
 *
 * s3rver verifies SigV4 signatures against registered key pairs but has no per-key
 * permissions, so a small middleware placed in front of its router plays the part
 * of R2 API tokens: keys registered as "read" may only GET/HEAD/list, and every
 * request is recorded with the access key that signed it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error s3rver ships no type declarations
import S3rver from "s3rver";

const require = createRequire(import.meta.url);

/*
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3
 * (Node 18+) no longer ships without the legacy provider. Tokens are opaque and only
 * s3rver itself decrypts them, so inside the test process its "des" is served by
 * AES-128-CBC with the same 8-byte key/IV zero-padded.
 */
const nodeCrypto = require("node:crypto") as typeof import("node:crypto");
if (!(nodeCrypto as { __grailDesShim?: boolean }).__grailDesShim) {
  const pad16 = (b: Buffer) => Buffer.concat([b, Buffer.alloc(16 - b.length)]);
  const { createCipheriv, createDecipheriv } = nodeCrypto;
  const swap = (alg: string, key: Buffer, iv: Buffer | null): [string, Buffer, Buffer | null] =>
    alg === "des" && iv ? ["aes-128-cbc", pad16(key), pad16(iv)] : [alg, key, iv];
  Object.assign(nodeCrypto, {
    __grailDesShim: true,
    createCipheriv: (alg: string, key: Buffer, iv: Buffer | null, o?: never) =>
      createCipheriv(...swap(alg, key, iv), o),
    createDecipheriv: (alg: string, key: Buffer, iv: Buffer | null, o?: never) =>
      createDecipheriv(...swap(alg, key, iv), o),
  });
}
const AWSAccount = require("s3rver/lib/models/account.js") as {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void };
};

export interface TestKey {
  accessKeyId: string;
  secretAccessKey: string;
  /** "read" keys may only GET/HEAD/list; absent means read and write. */
  permission?: "read" | "write";
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  accessKeyId: string | null;
  range: string | undefined;
  status?: number;
}

export interface TestS3Server {
  endpointUrl: string;
  port: number;
  dir: string;
  requests: RecordedRequest[];
  /** Runs before each request is handled; return "drop" to cut the connection (simulated outage). */
  onRequest: ((req: RecordedRequest) => "drop" | undefined) | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

interface KoaCtx {
  method: string;
  path: string;
  querystring: string;
  status: number;
  body: unknown;
  get(name: string): string;
  req: { socket: { destroy(): void } };
}

export interface TestS3ServerOptions {
  /** Bucket names (at least 3 characters; clients need path-style addressing). */
  buckets: string[];
  keys: TestKey[];
  /** Prefix of the temporary directory that holds the objects (removed on close). */
  dirPrefix?: string;
}

export async function startTestS3Server(opts: TestS3ServerOptions): Promise<TestS3Server> {
  const dir = await mkdtemp(join(tmpdir(), opts.dirPrefix ?? "grail-s3-"));
  const permissions = new Map(opts.keys.map((k) => [k.accessKeyId, k.permission ?? "write"]));
  for (const k of opts.keys) AWSAccount.DUMMY_ACCOUNT.createKeyPair(k.accessKeyId, k.secretAccessKey);

  const s3 = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  }) as {
    middleware: Array<(ctx: KoaCtx, next: () => Promise<void>) => Promise<void>>;
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    httpServer?: Server;
    serverOptions: { port: number };
  };

  const state: TestS3Server = {
    endpointUrl: "",
    port: 0,
    dir,
    requests: [],
    onRequest: undefined,
    async stop() {
      const server = s3.httpServer;
      if (!server?.listening) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async start() {
      // Same port again, so clients configured with the endpoint reconnect after an outage.
      s3.serverOptions.port = state.port;
      await s3.run();
    },
    async close() {
      await state.stop().catch(() => undefined);
      for (const k of opts.keys) AWSAccount.DUMMY_ACCOUNT.revokeAccessKey(k.accessKeyId);
      await rm(dir, { recursive: true, force: true });
    },
  };

  s3.middleware.unshift(async (ctx, next) => {
    const auth = ctx.get("authorization");
    const match = /Credential=([^/]+)\//.exec(auth);
    const record: RecordedRequest = {
      method: ctx.method,
      path: ctx.path,
      query: ctx.querystring,
      accessKeyId: match?.[1] ?? null,
      range: ctx.get("range") || undefined,
    };
    state.requests.push(record);
    if (state.onRequest?.(record) === "drop") {
      ctx.req.socket.destroy();
      return;
    }
    const permission = record.accessKeyId ? permissions.get(record.accessKeyId) : undefined;
    const isWrite = !["GET", "HEAD"].includes(ctx.method);
    if (permission === "read" && isWrite) {
      ctx.status = 403;
      ctx.body = { Error: { Code: "AccessDenied", Message: "read-only key" } };
      record.status = 403;
      return;
    }
    await next();
    record.status = ctx.status;
  });

  const addr = await s3.run();
  state.port = addr.port;
  state.endpointUrl = `http://127.0.0.1:${addr.port}`;
  return state;
}
