/**
 * s3rver on 127.0.0.1 for the end-to-end test, with an outage switch: stop() closes the
 * listener and every connection, start() serves again on the same port.
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error s3rver ships no type declarations
import S3rver from "s3rver";

const require = createRequire(import.meta.url);
const Account = require("s3rver/lib/models/account.js") as {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
};

export interface LocalS3 {
  endpointUrl: string;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  httpServer?: Server;
  serverOptions: { port: number };
}

export async function startLocalS3(
  buckets: string[],
  keys: { id: string; secret: string }[],
): Promise<LocalS3> {
  const dir = await mkdtemp(join(tmpdir(), "grail-miner-e2e-s3-"));
  for (const k of keys) Account.DUMMY_ACCOUNT.createKeyPair(k.id, k.secret);
  const s3 = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  }) as S3rverInstance;
  const { port } = await s3.run();
  const stop = async () => {
    const server = s3.httpServer;
    if (!server?.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    endpointUrl: `http://127.0.0.1:${port}`,
    dir,
    stop,
    async start() {
      s3.serverOptions.port = port;
      await s3.run();
    },
    async close() {
      await stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
