/**
 * Checkpoint content from a bucket someone else can write: manifest names, object keys and
 * metadata fields that try to leave the cache or smuggle in the wrong types are refused.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CheckpointIntegrityError,
  CheckpointPublisher,
  CheckpointStore,
  checkpointMetadataKey,
  createDualClients,
  loadStateDict,
  parseCheckpointMetadata,
} from "../src/index.js";
import { startTestS3Server, type TestS3Server } from "../src/testing/index.js";
import { diffStates, randomState } from "./helpers/checkpoints.js";

const BUCKET = "hostilebucket";
const READ = { accessKeyId: "HOREAD00001", secretAccessKey: "ho-read-secret", permission: "read" as const };
const WRITE = {
  accessKeyId: "HOWRITE0001",
  secretAccessKey: "ho-write-secret",
  permission: "write" as const,
};
const common = {
  envId: "gsm8k",
  generationParams: { max_tokens: 512, temperature: 0.7, top_p: 0.95, top_k: 0, repetition_penalty: 1.0 },
  thinkingMode: "instructed" as const,
};
const SHA = "ab".repeat(32);

let server: TestS3Server;
let root: string;
let clients: ReturnType<typeof createDualClients>;
let publisher: CheckpointPublisher;

/** A cache four directories below `root`, so a climb out of it still lands where the test can look. */
function deepStore(name: string) {
  return new CheckpointStore({ reader: clients.reader, cacheRoot: join(root, name, "a", "b", "c", "cache") });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(relative(root, p));
  }
  return out;
}

beforeAll(async () => {
  server = await startTestS3Server({ buckets: [BUCKET], keys: [READ, WRITE] });
  root = await mkdtemp(join(tmpdir(), "grail-ck-hostile-"));
  clients = createDualClients(
    {
      accountId: BUCKET,
      bucket: BUCKET,
      endpointUrl: server.endpointUrl,
      forcePathStyle: true,
      read: { accessKeyId: READ.accessKeyId, secretAccessKey: READ.secretAccessKey },
      write: { accessKeyId: WRITE.accessKeyId, secretAccessKey: WRITE.secretAccessKey },
    },
    { retry: { maxAttempts: 2, baseDelayMs: 50, floorDelayMs: 10 } },
  );
  publisher = new CheckpointPublisher(clients.writer);
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

// Hostile names under test, never opened. repo-paths: ok
const ESCAPING_NAME = "../../../../escaped.txt"; // repo-paths: ok
const ESCAPING_KEY_TAIL = "../../../../../mirrored.txt"; // repo-paths: ok

describe("checkpoint paths from the trainer's bucket", () => {
  it("refuses a manifest name that climbs out of the cache and writes nothing outside it", async () => {
    await publisher.publishFull({
      ...common,
      window: 0,
      state: randomState(7),
      modelName: "m",
      extraFiles: { [ESCAPING_NAME]: Buffer.from("planted by the bucket") },
    });
    const store = deepStore("climb");
    const err = await store.getCheckpoint(0).catch((e: unknown) => e);
    expect((await filesUnder(join(root, "climb"))).filter((f) => f.endsWith("escaped.txt"))).toEqual([]);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toContain(ESCAPING_NAME);
  });

  it("refuses listed object keys that climb out of the checkpoint when mirroring without metadata", async () => {
    const prefix = "grail/checkpoints/checkpoint-30/FULL";
    await clients.writer.putBytes(`${prefix}/model.safetensors`, Buffer.from("x"));
    await clients.writer.putBytes("grail/checkpoints/checkpoint-30/READY-60", new Uint8Array(0));
    // R2 keeps keys literally, "../" included; s3rver normalises them on disk, so the listing
    // and the download of that one key are served here as R2 would serve them.
    const climbing = `${prefix}/${ESCAPING_KEY_TAIL}`;
    const reader = Object.assign(Object.create(clients.reader) as typeof clients.reader, {
      list: async (p: string) => [...(await clients.reader.list(p)), { key: climbing, size: 1 }],
      download: async (k: string) =>
        k === climbing
          ? { sourceKey: k, gzipped: false, bytes: Buffer.from("planted") }
          : clients.reader.download(k),
    });
    const store = new CheckpointStore({ reader, cacheRoot: join(root, "mirror", "a", "b", "c", "cache") });
    const err = await store.getCheckpoint(30).catch((e: unknown) => e);
    expect((await filesUnder(join(root, "mirror"))).filter((f) => f.endsWith("mirrored.txt"))).toEqual([]);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toContain(ESCAPING_KEY_TAIL);
  });

  it("does not write through a symlink planted in the download staging", async () => {
    await publisher.publishFull({
      ...common,
      window: 60,
      state: randomState(8),
      modelName: "m",
      extraFiles: { "config.json": Buffer.from("{}") },
    });
    const store = deepStore("symlink");
    const victim = join(root, "symlink", "victim.txt");
    await mkdir(join(root, "symlink"), { recursive: true });
    await writeFile(victim, "precious");
    const staging = join(store.cacheRoot, ".downloads", "checkpoint-60", "FULL");
    await mkdir(staging, { recursive: true });
    await symlink(victim, join(staging, "config.json.part.json"));
    const err = await store.getCheckpoint(60).catch((e: unknown) => e);
    expect(await readFile(victim, "utf8")).toBe("precious");
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toMatch(/symbolic link/);
    // Once the link is gone the same checkpoint installs normally.
    await rm(join(staging, "config.json.part.json"));
    const dir = await store.getCheckpoint(60);
    expect(diffStates(await loadStateDict(dir), randomState(8))).toEqual([]);
  });

  it("does not count a cached file that is a symlink out of the cache as verified", async () => {
    const store = deepStore("cached-link");
    const dir = await store.getCheckpoint(60);
    const outside = join(root, "cached-link", "outside.json");
    await mkdir(join(root, "cached-link"), { recursive: true });
    await writeFile(outside, "{}");
    await rm(join(dir, "config.json"));
    await symlink(outside, join(dir, "config.json"));
    // Same bytes as the manifest expects, but reached through a link: not verified.
    expect(await store.isCachedAndVerified(60)).toBe(false);
  });

  it.each([
    ["absolute", "/etc/cron.d/x"],
    ["parent segment", "weights/../../x"],
    ["bare parent", ".."],
    ["NUL byte", "model\0.safetensors"],
    ["empty", ""],
    ["backslash", "..\\x"],
  ])("refuses a manifest name (%s) when parsing metadata", (_kind, name) => {
    const err = (() => {
      try {
        parseCheckpointMetadata({ window: 0, file_manifest: { [name]: SHA } }, 0, "FULL");
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toMatch(/file_manifest/);
  });
});

describe("checkpoint metadata field types", () => {
  it.each([
    ["env_id", 7, /env_id is 7 \(a number\); allowed: a string or null/],
    ["thinking_mode", ["native"], /thinking_mode is \["native"\] \(an array\); allowed: a string or null/],
    ["generation_params", "fast", /generation_params is "fast" \(a string\); allowed: an object/],
    ["env_params", [1], /env_params is \[1\] \(an array\); allowed: an object/],
    ["window", "0", /window is "0" \(a string\); allowed: a non-negative integer/],
    ["prev_window", 1.5, /prev_window is 1\.5 \(a number\); allowed: a non-negative integer or null/],
    ["created_at", "yesterday", /created_at is "yesterday" \(a string\); allowed: a finite number/],
    ["checkpoint_type", "PARTIAL", /checkpoint_type is "PARTIAL" \(a string\); allowed: "FULL" or "DELTA"/],
    ["weights_hash", 12, /weights_hash is 12 \(a number\); allowed: .*hex/],
    ["file_manifest", { "model.safetensors": 5 }, /file_manifest\["model\.safetensors"\] is 5/],
    ["model_name", false, /model_name is false \(a boolean\); allowed: a string/],
  ])("refuses %s = %j instead of coercing it", (field, value, message) => {
    const payload = { window: 0, env_id: "gsm8k", [field]: value };
    const err = (() => {
      try {
        parseCheckpointMetadata(payload, 0, "FULL");
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toMatch(message);
    expect((err as CheckpointIntegrityError).context).toMatchObject({
      field: expect.stringContaining(field),
    });
  });

  it("refuses metadata that describes another window than the one it was published under", () => {
    expect(() => parseCheckpointMetadata({ window: 30 }, 60, "FULL")).toThrow(
      /window is 30 but it was published under checkpoint-60/,
    );
  });

  it("still accepts nulls and absent keys with the reference's defaults", () => {
    const meta = parseCheckpointMetadata(
      { window: 90, prev_window: null, weights_hash: null, env_id: null, file_manifest: { "a/b.json": SHA } },
      90,
      "DELTA",
    );
    expect(meta).toMatchObject({
      window: 90,
      prev_window: null,
      env_id: null,
      model_name: "no_name",
      checkpoint_type: "DELTA",
      file_manifest: { "a/b.json": SHA },
    });
  });

  it("a store refuses a published metadata.json with a mistyped field and says which", async () => {
    await publisher.publishFull({ ...common, window: 90, state: randomState(9), modelName: "m" });
    const key = checkpointMetadataKey(90, "FULL");
    const meta = JSON.parse((await clients.reader.download(key)).bytes.toString());
    meta.env_id = 7;
    await clients.writer.putBytes(key, Buffer.from(JSON.stringify(meta)));
    const err = await deepStore("types")
      .getMetadata(90)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as Error).message).toContain(key);
    expect((err as Error).message).toMatch(/env_id is 7/);
  });
});
