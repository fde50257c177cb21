import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DirectoryStore,
  readWindowFile,
  UnsafePathError,
  WindowUploader,
  windowObjectKey,
} from "../src/index.js";
import { makeWindowRows, SAMPLE_HOTKEY } from "./helpers/rollouts.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "grail-dirstore-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("DirectoryStore (a dry run's bucket)", () => {
  it("receives a window through the real uploader: spooled, bounded, confirmed, then the spool is empty", async () => {
    const store = new DirectoryStore(join(root, "bucket"), "minerbucket");
    const uploader = new WindowUploader({ writer: store, spoolDir: join(root, "spool") });
    const rows = makeWindowRows({ windowStart: 600, groups: 2 });
    const res = await uploader.uploadWindow({
      rows,
      hotkey: SAMPLE_HOTKEY,
      windowStart: 600,
      deadlineMs: Date.now() + 30_000,
    });
    expect(res.key).toBe(windowObjectKey(SAMPLE_HOTKEY, 600));
    expect(await readdir(uploader.spoolDir)).toEqual([]);
    const bytes = await readFile(store.pathOf(res.key));
    expect(bytes.length).toBe(res.size);
    expect((await readWindowFile(bytes)).rows).toEqual(rows);
    expect((await store.head(res.key))?.size).toBe(res.size);
    await store.delete(res.key);
    expect(await store.head(res.key)).toBeNull();
  });

  it("refuses keys that leave its directory", async () => {
    const store = new DirectoryStore(join(root, "bucket"), "minerbucket");
    await expect(store.head("../outside")).rejects.toBeInstanceOf(UnsafePathError);
    expect(() => store.pathOf("/etc/passwd")).toThrow(UnsafePathError);
  });
});
