import { existsSync, statSync, truncateSync } from "node:fs";
import { mkdtemp, readdir, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createDualClients,
  readWindowFile,
  type TransferTuning,
  WindowFileSizeError,
  WindowUploadError,
  WindowUploader,
  windowObjectKey,
} from "../src/index.js";
import { startTestS3Server, type TestS3Server } from "../src/testing/index.js";
import { makeWindowRows, SAMPLE_HOTKEY } from "./helpers/rollouts.js";

const BUCKET = "minerbucket";
const READ = { accessKeyId: "WUREAD00001", secretAccessKey: "wu-read-secret", permission: "read" as const };
const WRITE = {
  accessKeyId: "WUWRITE0001",
  secretAccessKey: "wu-write-secret",
  permission: "write" as const,
};

let server: TestS3Server;
let root: string;

function setup(spool: string, tuning?: TransferTuning) {
  const { reader, writer } = createDualClients(
    {
      accountId: "acct",
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      read: { accessKeyId: READ.accessKeyId, secretAccessKey: READ.secretAccessKey },
      write: { accessKeyId: WRITE.accessKeyId, secretAccessKey: WRITE.secretAccessKey },
    },
    {
      retry: {
        maxAttempts: 10,
        baseDelayMs: 200,
        capDelayMs: 800,
        floorDelayMs: 50,
        attemptTimeoutMs: 5_000,
      },
      ...(tuning ? { uploadTuning: tuning } : {}),
    },
  );
  return { reader, writer, uploader: new WindowUploader({ writer, spoolDir: join(root, spool) }) };
}

beforeAll(async () => {
  server = await startTestS3Server({ buckets: [BUCKET], keys: [READ, WRITE] });
  root = await mkdtemp(join(tmpdir(), "grail-wu-"));
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  server.onRequest = undefined;
});

describe("WindowUploader", () => {
  it("uploads the window file, confirms it and empties the spool", async () => {
    const { reader, uploader } = setup("ok");
    const rows = makeWindowRows({ windowStart: 4999980, groups: 2 });
    const res = await uploader.uploadWindow({
      rows,
      hotkey: SAMPLE_HOTKEY,
      windowStart: 4999980,
      deadlineMs: Date.now() + 30_000,
    });
    expect(res.key).toBe(windowObjectKey(SAMPLE_HOTKEY, 4999980));
    expect(await readdir(uploader.spoolDir)).toEqual([]);
    const downloaded = await reader.download(res.key);
    expect(downloaded.bytes.length).toBe(res.size);
    const back = await readWindowFile(downloaded.bytes);
    expect(back.rows).toEqual(rows);
    expect(back.metadata.inference_count).toBe("32");
  });

  it("keeps the spool file when the store stays down past the deadline, then retries it", async () => {
    const { uploader } = setup("down");
    const rows = makeWindowRows({ windowStart: 60, groups: 1 });
    await server.stop();
    const deadlineMs = Date.now() + 1_200;
    let err: unknown;
    try {
      err = await uploader
        .uploadWindow({ rows, hotkey: SAMPLE_HOTKEY, windowStart: 60, deadlineMs })
        .catch((e: unknown) => e);
      // The retry loop stops once the next backoff would overshoot; let the deadline itself pass.
      await sleep(Math.max(0, deadlineMs - Date.now() + 20));
    } finally {
      await server.start();
    }
    expect(err).toBeInstanceOf(WindowUploadError);
    const uploadErr = err as WindowUploadError;
    expect(uploadErr.spoolPath).toBe(join(uploader.spoolDir, `${SAMPLE_HOTKEY}-window-60.parquet`));
    expect(uploadErr.message).toContain(uploadErr.spoolPath);
    const pending = await uploader.pendingSpool();
    expect(pending.map((p) => p.path)).toEqual([uploadErr.spoolPath]);
    expect(pending[0]!.expired).toBe(true);
    // Past its deadline the entry is not retried, and can be discarded.
    expect(await uploader.retryPending()).toEqual([]);
    // A fresh deadline (e.g. a longer window estimate) lets the retry go through.
    const [entry] = pending;
    const res = await uploader.uploadSpooled({ ...entry!, deadlineMs: Date.now() + 20_000 });
    expect(res.size).toBe(entry!.size);
    expect(await uploader.pendingSpool()).toEqual([]);
  });

  it("survives a server outage in the middle of a multipart window upload", async () => {
    const MiB = 1024 * 1024;
    const { reader, uploader } = setup("outage", {
      singleRequestBelow: 64 * 1024,
      // s3rver accepts parts below S3's 5 MiB minimum, which keeps this file small.
      tiers: [{ below: Number.POSITIVE_INFINITY, partSize: 1 * MiB, concurrency: 1 }],
    });
    // About 3 MiB: sketch JSON and random tokens compress poorly.
    const rows = makeWindowRows({ windowStart: 90, groups: 12, completionLength: 1000 });
    let outage: Promise<void> | undefined;
    server.onRequest = (r) => {
      if (!outage && r.method === "PUT" && r.query.includes("partNumber=2")) {
        outage = new Promise<void>((resolve) => setImmediate(resolve))
          .then(() => server.stop())
          .then(() => sleep(600))
          .then(() => server.start());
        return "drop";
      }
      return undefined;
    };
    const res = await uploader.uploadWindow({
      rows,
      hotkey: SAMPLE_HOTKEY,
      windowStart: 90,
      deadlineMs: Date.now() + 30_000,
    });
    await outage;
    expect(outage).toBeDefined();
    expect(res.multipart).toBe(true);
    expect(await uploader.pendingSpool()).toEqual([]);
    const back = await readWindowFile((await reader.download(res.key)).bytes);
    expect(back.rows.length).toBe(rows.length);
  });

  it("recovery quarantines a spooled file that no longer matches its sidecar and uploads nothing", async () => {
    const { writer, uploader } = setup("recover-corrupt");
    // A process that sealed the file and its sidecar, then died before uploading it.
    const crashed = new WindowUploader({
      writer,
      spoolDir: uploader.spoolDir,
      now: () => Date.now() + 120_000,
    });
    const rows = makeWindowRows({ windowStart: 150, groups: 2 });
    const first = await crashed
      .uploadWindow({ rows, hotkey: SAMPLE_HOTKEY, windowStart: 150, deadlineMs: Date.now() + 60_000 })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(WindowUploadError);
    const name = `${SAMPLE_HOTKEY}-window-150.parquet`;
    const path = join(uploader.spoolDir, name);
    await truncate(path, Math.floor((await stat(path)).size / 2));

    const outcomes = await uploader.retryPending();
    expect(await writer.head(windowObjectKey(SAMPLE_HOTKEY, 150))).toBeNull();
    expect(outcomes).toHaveLength(1);
    const err = outcomes[0]!.error as WindowUploadError;
    expect(err).toBeInstanceOf(WindowUploadError);
    expect(err.quarantinedPath).toBe(join(uploader.spoolDir, "quarantine", name));
    expect(err.message).toMatch(/failed verification .*and was moved to .*quarantine/);
    expect(existsSync(err.quarantinedPath!)).toBe(true);
    expect(existsSync(`${err.quarantinedPath}.json`)).toBe(true);
    expect(await uploader.pendingSpool()).toEqual([]);
  });

  it("deletes an uploaded object whose HEAD size disagrees and says what happened to both copies", async () => {
    const { writer, uploader } = setup("head-mismatch");
    const key = windowObjectKey(SAMPLE_HOTKEY, 180);
    // The store persists half the object (what R2 would report after a broken write).
    const stored = join(server.dir, BUCKET, `${key}._S3rver_object`);
    let truncated = false;
    server.onRequest = (r) => {
      if (!truncated && r.method === "HEAD" && r.path.endsWith(key) && existsSync(stored)) {
        truncateSync(stored, Math.floor(statSync(stored).size / 2));
        truncated = true;
      }
      return undefined;
    };
    const rows = makeWindowRows({ windowStart: 180, groups: 2 });
    const err = await uploader
      .uploadWindow({ rows, hotkey: SAMPLE_HOTKEY, windowStart: 180, deadlineMs: Date.now() + 30_000 })
      .catch((e: unknown) => e);
    server.onRequest = undefined;
    expect(truncated).toBe(true);
    expect(await writer.head(key)).toBeNull();
    expect(err).toBeInstanceOf(WindowUploadError);
    const message = (err as Error).message;
    expect(message).toMatch(/HEAD reports \d+ bytes, expected \d+/);
    expect(message).toMatch(/the object s3:\/\/minerbucket\/\S+ was deleted/);
    expect(message).toMatch(/the local file is kept at \S+ for a retry before its deadline/);
    // The kept file goes up whole on the retry.
    const [entry] = await uploader.pendingSpool();
    const res = await uploader.uploadSpooled(entry!);
    expect((await writer.head(key))?.size).toBe(res.size);
    expect(await uploader.pendingSpool()).toEqual([]);
  });

  it("refuses files outside the validator's size bounds", async () => {
    const { writer } = setup("size");
    const tiny = new WindowUploader({ writer, spoolDir: join(root, "size"), maxFileBytes: 1000 });
    const rows = makeWindowRows({ windowStart: 120, groups: 1 });
    await expect(
      tiny.uploadWindow({ rows, hotkey: SAMPLE_HOTKEY, windowStart: 120, deadlineMs: Date.now() + 10_000 }),
    ).rejects.toBeInstanceOf(WindowFileSizeError);
    expect(await tiny.pendingSpool()).toEqual([]);
  });

  it("will not be built on the read client", () => {
    const { reader } = setup("ro");
    expect(() => new WindowUploader({ writer: reader, spoolDir: join(root, "ro") })).toThrow(/write client/);
  });
});
