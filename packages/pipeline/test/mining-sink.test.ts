import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkWindowRows, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { createDualClients, readWindowFile, WindowUploader, windowObjectKey } from "@grail/storage";
import { startTestS3Server, type TestS3Server } from "@grail/storage/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageGroup, SpoolingWindowSink, WindowFileWriter, writerThreadPath } from "../src/index.js";
import { aliceSigner, BLOCK_HASH, type Line, quietLogger, RANDOMNESS } from "./mining-helpers.js";

const BUCKET = "minersink";
const KEY = { id: "SINKWRITE01", secret: "sink-write-secret" };
let s3: TestS3Server;
let root: string;

beforeAll(async () => {
  s3 = await startTestS3Server({
    buckets: [BUCKET],
    keys: [{ accessKeyId: KEY.id, secretAccessKey: KEY.secret }],
    dirPrefix: "grail-mining-s3-",
  });
  root = await mkdtemp(join(tmpdir(), "grail-sink-"));
});
afterAll(async () => {
  await s3.close();
  await rm(root, { recursive: true, force: true });
});

function clients(spool: string) {
  const pair = { accessKeyId: KEY.id, secretAccessKey: KEY.secret };
  const { writer } = createDualClients(
    {
      accountId: BUCKET,
      bucket: BUCKET,
      endpointUrl: s3.endpointUrl,
      forcePathStyle: true,
      read: pair,
      write: pair,
    },
    {
      retry: { maxAttempts: 2, baseDelayMs: 50, capDelayMs: 100, floorDelayMs: 10, attemptTimeoutMs: 2_000 },
    },
  );
  return { writer, uploader: new WindowUploader({ writer, spoolDir: join(root, spool) }) };
}

async function rows(windowStart: number, groups: number) {
  const signer = await aliceSigner();
  const identity = {
    windowStart,
    blockHash: BLOCK_HASH,
    randomness: RANDOMNESS,
    useDrand: false,
    checkpointWindow: 0,
    modelName: "m",
  };
  return {
    signer,
    groups: Array.from({ length: groups }, (_, g) =>
      packageGroup(
        identity,
        {
          groupIndex: g,
          block: windowStart + 2,
          rollouts: Array.from({ length: ROLLOUTS_PER_PROBLEM }, (_, i) => ({
            tokens: Array.from({ length: 50 }, (_, j) => (j * 7 + i) % 300),
            promptLength: 10,
            reward: i % 2,
            advantage: i % 2 ? 1 : -1,
            success: i % 2 === 1,
            sVals: Array.from({ length: 50 }, (_, j) => j * 1000 + i),
            logprobs: Array.from({ length: 40 }, () => -0.5),
            commitSignature: new Uint8Array(64).fill(7),
          })),
        },
        signer,
        1.5,
      ),
    ),
  };
}

describe("window sink: writer thread, spool and upload", () => {
  it("writes the window in the writer thread and uploads a file that reads back valid", async () => {
    expect(existsSync(writerThreadPath())).toBe(true);
    const { writer, uploader } = clients("spool-a");
    const sink = new SpoolingWindowSink({ writer: WindowFileWriter.create("thread"), uploader });
    const { signer, groups } = await rows(300, 3);
    for (const g of groups) sink.add(300, g);
    const outcome = await sink.publish(300, {
      hotkey: signer.ss58,
      deadlineMs: Date.now() + 60_000,
      timestampSeconds: 2.5,
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome).toMatchObject({ status: "uploaded", rows: 48, retrying: false });
    const file = await readWindowFile((await writer.download(windowObjectKey(signer.ss58, 300))).bytes);
    expect(file.metadata).toMatchObject({
      wallet: signer.ss58,
      window_start: "300",
      inference_count: "48",
      timestamp: "2.5",
    });
    expect(
      checkWindowRows(file.rows, file.metadata, {
        hotkey: signer.ss58,
        windowStart: 300,
        blockHash: BLOCK_HASH,
      }),
    ).toEqual([]);
    expect(await readdir(uploader.spoolDir)).toEqual([]);
    await sink.close();
  });

  it("keeps the spooled file while the store is down and uploads it on a retry before the deadline", async () => {
    const { writer, uploader } = clients("spool-b");
    const logger = quietLogger();
    const sink = new SpoolingWindowSink({
      writer: WindowFileWriter.create("inline"),
      uploader,
      retryIntervalMs: 100,
      logger,
    });
    const { signer, groups } = await rows(330, 1);
    sink.add(330, groups[0]!);
    await s3.stop();
    const outcome = await sink.publish(330, {
      hotkey: signer.ss58,
      deadlineMs: Date.now() + 30_000,
      timestampSeconds: 3,
    });
    expect(outcome.status).toBe("failed");
    expect(outcome.retrying).toBe(true);
    expect((await readdir(uploader.spoolDir)).sort()).toEqual([
      `${signer.ss58}-window-330.parquet`,
      `${signer.ss58}-window-330.parquet.json`,
    ]);
    await s3.start();
    const final = await outcome.final;
    expect(final.status).toBe("uploaded");
    expect(await readdir(uploader.spoolDir)).toEqual([]);
    const head = await writer.head(windowObjectKey(signer.ss58, 330));
    expect(head?.size).toBe(final.size);
    await sink.close();
  });

  it("gives up at the deadline, removes the spooled file and reports the failure", async () => {
    const { uploader } = clients("spool-c");
    const sink = new SpoolingWindowSink({
      writer: WindowFileWriter.create("inline"),
      uploader,
      retryIntervalMs: 50,
    });
    const { signer, groups } = await rows(360, 1);
    sink.add(360, groups[0]!);
    await s3.stop();
    try {
      const outcome = await sink.publish(360, {
        hotkey: signer.ss58,
        deadlineMs: Date.now() + 1_500,
        timestampSeconds: 3,
      });
      const final = await outcome.final;
      expect(final.status).toBe("failed");
      expect(final.error).toMatch(/before the deadline/);
      expect(await readdir(uploader.spoolDir)).toEqual([]);
    } finally {
      await s3.start();
    }
    await sink.close();
  });

  it("says the spooled file was deleted when it gives up on it, not that it is kept", async () => {
    const { uploader } = clients("spool-d");
    const sink = new SpoolingWindowSink({ writer: WindowFileWriter.create("inline"), uploader });
    const { signer, groups } = await rows(390, 1);
    sink.add(390, groups[0]!);
    // The seal finished after the window's deadline: the file is dropped at once.
    const outcome = await sink.publish(390, {
      hotkey: signer.ss58,
      deadlineMs: Date.now() - 1,
      timestampSeconds: 3,
    });
    expect(outcome.status).toBe("failed");
    expect(await readdir(uploader.spoolDir)).toEqual([]);
    expect(outcome.error).not.toMatch(/kept|for a retry/);
    expect(outcome.error).toMatch(/the spooled file \S+ was deleted/);
    await sink.close();
  });

  it("quarantines a corrupt file left in the spool at start instead of uploading it, and logs where", async () => {
    const { writer, uploader } = clients("spool-e");
    const { signer, groups } = await rows(420, 1);
    // An earlier process sealed the file and its sidecar, then died before the upload.
    const crashed = new WindowUploader({
      writer,
      spoolDir: uploader.spoolDir,
      now: () => Date.now() + 120_000,
    });
    await crashed
      .uploadWindow({
        rows: groups[0]!,
        hotkey: signer.ss58,
        windowStart: 420,
        deadlineMs: Date.now() + 60_000,
      })
      .catch(() => undefined);
    const name = `${signer.ss58}-window-420.parquet`;
    const bytes = await readFile(join(uploader.spoolDir, name));
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(join(uploader.spoolDir, name), bytes);

    const lines: Line[] = [];
    const sink = new SpoolingWindowSink({
      writer: WindowFileWriter.create("inline"),
      uploader,
      logger: quietLogger(lines),
    });
    const recovered = await sink.recoverSpool();
    expect(await writer.head(windowObjectKey(signer.ss58, 420))).toBeNull();
    expect(recovered).toMatchObject({ retried: 1, uploaded: 0, quarantined: 1 });
    const line = lines.find((l) => l.level === "warn" && l.message.includes("quarantined"));
    expect(line?.fields).toMatchObject({
      window: 420,
      quarantined: join(uploader.spoolDir, "quarantine", name),
    });
    expect(String(line?.fields?.error)).toMatch(/sha256/);
    expect(existsSync(join(uploader.spoolDir, "quarantine", name))).toBe(true);
    expect(await readdir(uploader.spoolDir)).toEqual(["quarantine"]);
    await sink.close();
  });
});
