import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CredentialsError,
  createDualClients,
  ObjectNotFoundError,
  ObjectStoreClient,
  UploadDeadlineError,
} from "../src/index.js";
import { startTestS3Server, type TestS3Server } from "../src/testing/index.js";

const BUCKET = "minerbucket";
const READ = { accessKeyId: "READKEY0001", secretAccessKey: "read-secret-0001", permission: "read" as const };
const WRITE = {
  accessKeyId: "WRITEKEY001",
  secretAccessKey: "write-secret-001",
  permission: "write" as const,
};
const MiB = 1024 * 1024;

// Small tiers so multipart and ranged paths run on megabyte-sized objects.
const smallTuning = {
  singleRequestBelow: 5 * MiB,
  tiers: [{ below: Number.POSITIVE_INFINITY, partSize: 5 * MiB, concurrency: 2 }],
};
const fastRetry = {
  maxAttempts: 10,
  baseDelayMs: 200,
  capDelayMs: 1_000,
  floorDelayMs: 50,
  attemptTimeoutMs: 10_000,
};

let server: TestS3Server;
let dir: string;

function clients(overrides: Record<string, unknown> = {}) {
  return createDualClients(
    {
      accountId: "acct",
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      read: { accessKeyId: READ.accessKeyId, secretAccessKey: READ.secretAccessKey },
      write: { accessKeyId: WRITE.accessKeyId, secretAccessKey: WRITE.secretAccessKey },
    },
    { uploadTuning: smallTuning, downloadTuning: smallTuning, retry: fastRetry, ...overrides },
  );
}

beforeAll(async () => {
  server = await startTestS3Server({ buckets: [BUCKET], keys: [READ, WRITE] });
  dir = await mkdtemp(join(tmpdir(), "grail-os-"));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
  server.onRequest = undefined;
});

describe("ObjectStoreClient against s3rver", () => {
  it("uploads with a single PUT and downloads the same bytes", async () => {
    const { reader, writer } = clients();
    const body = randomBytes(300_000);
    const res = await writer.putBytes("a/small.bin", body);
    expect(res.multipart).toBe(false);
    const head = await reader.head("a/small.bin");
    expect(head?.size).toBe(body.length);
    const got = await reader.download("a/small.bin");
    expect(got.gzipped).toBe(false);
    expect(Buffer.compare(got.bytes, body)).toBe(0);
  });

  it("uploads a file in multipart and downloads it in concurrent ranges", async () => {
    const { reader, writer } = clients();
    const body = randomBytes(12 * MiB + 12345);
    const path = join(dir, "big.bin");
    await writeFile(path, body);
    const res = await writer.uploadFile(path, "a/big.bin");
    expect(res.multipart).toBe(true);
    const partPuts = server.requests.filter((r) => r.method === "PUT" && r.query.includes("partNumber"));
    expect(partPuts).toHaveLength(3);
    server.requests.length = 0;
    const got = await reader.download("a/big.bin");
    expect(Buffer.compare(got.bytes, body)).toBe(0);
    const ranged = server.requests.filter((r) => r.method === "GET" && r.range);
    expect(ranged.map((r) => r.range).sort()).toEqual(
      [
        `bytes=0-${5 * MiB - 1}`,
        `bytes=${5 * MiB}-${10 * MiB - 1}`,
        `bytes=${10 * MiB}-${body.length - 1}`,
      ].sort(),
    );
  });

  it("prefers the .gz variant of a key and gunzips it", async () => {
    const { reader, writer } = clients();
    const plain = Buffer.from(JSON.stringify({ window: 30, hello: "world" }));
    await writer.putBytes("a/meta.json.gz", gzipSync(plain));
    const got = await reader.download("a/meta.json");
    expect(got.gzipped).toBe(true);
    expect(got.sourceKey).toBe("a/meta.json.gz");
    expect(got.bytes.toString()).toBe(plain.toString());
  });

  it("reports a missing object as ObjectNotFoundError naming bucket and key", async () => {
    const { reader } = clients();
    await expect(reader.download("a/missing.bin")).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(reader.getBytes("a/missing.bin")).rejects.toThrow(/minerbucket\/a\/missing\.bin/);
    expect(await reader.head("a/missing.bin")).toBeNull();
  });

  it("lists every key across pages", async () => {
    const { reader, writer } = clients();
    for (let i = 0; i < 7; i++) await writer.putBytes(`list/k-${i}`, Buffer.from([i]));
    const keys = await reader.list("list/", { pageSize: 3 });
    expect(keys.map((k) => k.key).sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `list/k-${i}`));
    const pages = server.requests.filter((r) => r.method === "GET" && r.query.includes("list-type=2"));
    expect(pages.length).toBe(3);
  });

  it("resumes an interrupted download from the partial file's size", async () => {
    const { reader, writer } = clients();
    const body = randomBytes(11 * MiB);
    await writer.putBytes("a/resume.bin", body);
    const dest = join(dir, "resume.bin");
    // First run: the connection drops on the second ranged GET; the prefix stays on disk.
    let gets = 0;
    server.onRequest = (r) => (r.method === "GET" && r.range && ++gets >= 2 ? "drop" : undefined);
    const failing = new ObjectStoreClient({
      accountId: "acct",
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      role: "read",
      credentials: { accessKeyId: READ.accessKeyId, secretAccessKey: READ.secretAccessKey },
      downloadTuning: {
        singleRequestBelow: 1,
        tiers: [{ below: Infinity, partSize: 5 * MiB, concurrency: 1 }],
      },
      retry: { ...fastRetry, maxAttempts: 1 },
    });
    await expect(failing.downloadToFile("a/resume.bin", dest)).rejects.toThrow();
    expect((await stat(`${dest}.part`)).size).toBe(5 * MiB);
    server.onRequest = undefined;
    server.requests.length = 0;
    const res = await reader.downloadToFile("a/resume.bin", dest);
    expect(res.resumedFrom).toBe(5 * MiB);
    expect(Buffer.compare(await readFile(dest), body)).toBe(0);
    const ranges = server.requests.filter((r) => r.method === "GET").map((r) => r.range);
    expect(ranges.sort()).toEqual(
      [`bytes=${5 * MiB}-${10 * MiB - 1}`, `bytes=${10 * MiB}-${body.length - 1}`].sort(),
    );
    await expect(stat(`${dest}.part`)).rejects.toThrow();
  });

  it("retries a multipart upload through a server outage and completes before the deadline", async () => {
    const { reader, writer } = clients();
    const body = randomBytes(12 * MiB);
    const path = join(dir, "outage.bin");
    await writeFile(path, body);
    let outage: Promise<void> | undefined;
    server.onRequest = (r) => {
      if (!outage && r.method === "PUT" && r.query.includes("partNumber")) {
        // Stop the whole server mid-upload, bring it back a little later on the same port.
        outage = new Promise<void>((resolve) => setImmediate(resolve))
          .then(() => server.stop())
          .then(() => sleep(700))
          .then(() => server.start());
        return "drop";
      }
    };
    const res = await writer.uploadFile(path, "a/outage.bin", { deadlineMs: Date.now() + 20_000 });
    await outage;
    expect(outage).toBeDefined();
    expect(res.attempts).toBeGreaterThan(5);
    const got = await reader.download("a/outage.bin");
    expect(Buffer.compare(got.bytes, body)).toBe(0);
  });

  it("gives up at the deadline with UploadDeadlineError when the server stays down", async () => {
    const { writer } = clients();
    await server.stop();
    try {
      const err = await writer
        .putBytes("a/never.bin", randomBytes(1000), { deadlineMs: Date.now() + 1_500 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UploadDeadlineError);
      expect((err as UploadDeadlineError).key).toBe("a/never.bin");
      expect((err as Error).message).toMatch(/minerbucket\/a\/never\.bin.*deadline/);
    } finally {
      await server.start();
    }
  });
});

describe("credential separation", () => {
  it("signs reads with the read key and writes with the write key", async () => {
    const { reader, writer } = clients();
    await writer.putBytes("sep/x", Buffer.from("x"));
    await reader.download("sep/x");
    await reader.list("sep/");
    const writes = server.requests.filter((r) => !["GET", "HEAD"].includes(r.method));
    const reads = server.requests.filter((r) => ["GET", "HEAD"].includes(r.method));
    expect(writes.length).toBeGreaterThan(0);
    expect(new Set(writes.map((r) => r.accessKeyId))).toEqual(new Set([WRITE.accessKeyId]));
    expect(new Set(reads.map((r) => r.accessKeyId))).toEqual(new Set([READ.accessKeyId]));
  });

  it("refuses to write with the read client before any request is sent", async () => {
    const { reader } = clients();
    await expect(reader.putBytes("sep/y", Buffer.from("y"))).rejects.toBeInstanceOf(CredentialsError);
    await expect(reader.delete("sep/x")).rejects.toThrow(/R2_WRITE_ACCESS_KEY_ID/);
    expect(server.requests).toHaveLength(0);
  });

  it("maps a server-side AccessDenied for read keys to CredentialsError", async () => {
    // A client mislabelled as a writer but holding read keys: the server refuses it.
    const wrong = new ObjectStoreClient({
      accountId: "acct",
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      role: "write",
      credentials: { accessKeyId: READ.accessKeyId, secretAccessKey: READ.secretAccessKey },
      retry: fastRetry,
    });
    const err = await wrong.putBytes("sep/z", Buffer.from("z")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialsError);
    expect((err as Error).message).toMatch(/READKEY0001/);
    expect(server.requests.filter((r) => r.method === "PUT")).toHaveLength(1);
  });

  it("rejects unknown keys as CredentialsError without retrying", async () => {
    const bad = new ObjectStoreClient({
      accountId: "acct",
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      role: "read",
      credentials: { accessKeyId: "NOPE", secretAccessKey: "nope" },
      retry: fastRetry,
    });
    await expect(bad.getBytes("sep/x")).rejects.toBeInstanceOf(CredentialsError);
    expect(server.requests).toHaveLength(1);
  });
});
