import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TRAINER_UID } from "@grail/protocol";
import { ObjectStoreClient, readyMarkerKey } from "@grail/storage";
import { startTestS3Server, type TestS3Server } from "@grail/storage/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommittedBucket, TrainerCheckpoints, WindowSkippedError } from "../src/index.js";

const TRAINER = "trainerckpt";
const READ = { accessKeyId: "TRAINERREAD01", secretAccessKey: "trainer-read-secret" };
const WRITE = { accessKeyId: "TRAINERWRITE1", secretAccessKey: "trainer-write-secret" };
const committed: CommittedBucket = { name: TRAINER, accountId: TRAINER, ...READ };
let s3: TestS3Server;
let cacheRoot: string;

beforeAll(async () => {
  s3 = await startTestS3Server({
    buckets: [TRAINER],
    keys: [
      { ...READ, permission: "read" },
      { ...WRITE, permission: "write" },
    ],
    dirPrefix: "grail-trainer-ckpt-",
  });
  const writer = new ObjectStoreClient({
    accountId: TRAINER,
    bucket: TRAINER,
    endpointUrl: s3.endpointUrl,
    forcePathStyle: true,
    role: "write",
    credentials: WRITE,
  });
  await writer.putBytes(readyMarkerKey(30, 60), new Uint8Array(0));
  cacheRoot = await mkdtemp(join(tmpdir(), "grail-trainer-cache-"));
});
afterAll(async () => {
  await s3.close();
  await rm(cacheRoot, { recursive: true, force: true });
});

/** The chain's bucket commitments as a test sets them, counting the reads. */
function chain(initial: ReadonlyMap<number, { bucket: CommittedBucket }> = new Map()) {
  const state = { byUid: initial, reads: 0 };
  return {
    state,
    buckets: async () => {
      state.reads += 1;
      return state.byUid;
    },
  };
}

function checkpoints(
  buckets: () => Promise<ReadonlyMap<number, { bucket: CommittedBucket }>>,
  initial?: CommittedBucket,
) {
  return new TrainerCheckpoints({
    buckets,
    netuid: 81,
    location: { endpointUrl: s3.endpointUrl, region: "us-east-1", forcePathStyle: true },
    cacheRoot,
    ...(initial ? { initial } : {}),
  });
}

describe("the trainer's checkpoints as UID 0 committed them", () => {
  it("skips windows while the trainer has no commitment and looks again before each one", async () => {
    const c = chain();
    const source = checkpoints(c.buckets);
    const first = await source.latestReadyCheckpoint(90).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(WindowSkippedError);
    expect(first).toMatchObject({ reason: "no_checkpoint", context: { uid: TRAINER_UID, netuid: 81 } });

    c.state.byUid = new Map([[TRAINER_UID, { bucket: committed }]]);
    expect(await source.latestReadyCheckpoint(90)).toBe(30);
    expect(await source.latestReadyCheckpoint(60)).toBeNull();
    // Found once, the bucket is kept: no further chain reads.
    expect(c.state.reads).toBe(2);
  });

  it("reads from the bucket committed at start without asking the chain", async () => {
    const c = chain();
    const source = checkpoints(c.buckets, committed);
    expect(await source.latestReadyCheckpoint(90)).toBe(30);
    expect(c.state.reads).toBe(0);
  });

  it("ignores other neurons' buckets", async () => {
    const c = chain(new Map([[1, { bucket: committed }]]));
    await expect(checkpoints(c.buckets).latestReadyCheckpoint(90)).rejects.toThrow(
      /trainer \(UID 0\) has no readable bucket commitment on subnet 81/,
    );
  });
});
