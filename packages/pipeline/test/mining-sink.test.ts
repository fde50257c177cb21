import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkWindowRows, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { createDualClients, readWindowFile, WindowUploader, windowObjectKey } from "@grail/storage";
import { startTestS3Server, type TestS3Server } from "@grail/storage/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageGroup, SpoolingWindowSink, WindowFileWriter, writerThreadPath } from "../src/index.js";
import { aliceSigner, BLOCK_HASH, quietLogger, RANDOMNESS } from "./mining-helpers.js";

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
});
