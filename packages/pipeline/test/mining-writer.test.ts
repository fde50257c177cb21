import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkWindowRows, ROLLOUTS_PER_PROBLEM, type RolloutRecord } from "@grail/protocol";
import { readWindowFile, windowFileMetadata } from "@grail/storage";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { packageGroup, WindowFileWriter } from "../src/index.js";
import type { HotkeySigner } from "../src/pool/types.js";
import { aliceSigner, BLOCK_HASH, RANDOMNESS } from "./mining-helpers.js";

let root: string;
let signer: HotkeySigner;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "grail-writer-"));
  signer = await aliceSigner();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function group(windowStart: number, index: number, completion = 200): RolloutRecord[] {
  return packageGroup(
    {
      windowStart,
      blockHash: BLOCK_HASH,
      randomness: RANDOMNESS,
      useDrand: false,
      checkpointWindow: 0,
      modelName: "m",
    },
    {
      groupIndex: index,
      block: windowStart + 1,
      rollouts: Array.from({ length: ROLLOUTS_PER_PROBLEM }, (_, i) => ({
        tokens: Array.from({ length: 20 + completion }, (_, j) => (j * 31 + i * 7 + index) % 5000),
        promptLength: 20,
        reward: i % 2,
        advantage: i % 2 ? 1 : -1,
        success: i % 2 === 1,
        sVals: Array.from({ length: 20 + completion }, (_, j) => j * 1009 + i),
        logprobs: Array.from({ length: completion }, (_, j) => -((j % 13) + 1) / 8),
        commitSignature: new Uint8Array(64).fill(3),
      })),
    },
    signer,
    1.5,
  );
}

const spec = (dir: string, windowStart: number) => ({
  path: join(dir, `final-${windowStart}.parquet`),
  metadata: windowFileMetadata({ hotkey: signer.ss58, windowStart, rowCount: 0, timestampSeconds: 7 }),
});

async function partials(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".partial"));
}

describe("window file writer: the file is built while groups arrive", () => {
  it("writes row groups in the thread while the window is mined, then only the tail at finish", async () => {
    const dir = join(root, "thread");
    const writer = WindowFileWriter.create("thread", { rowGroupSize: 16 });
    const groups = Array.from({ length: 5 }, (_, g) => group(600, g));
    for (const g of groups.slice(0, 4)) writer.append(600, g, { dir });
    // Four full row groups reach the partial file before the window is finished.
    let partial = "";
    await vi.waitFor(
      async () => {
        [partial = ""] = await partials(dir);
        expect((await stat(join(dir, partial))).size).toBeGreaterThan(4 * 16 * 1_000);
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(partial).toBe(`window-600.${writer.token}.partial`);
    writer.append(600, groups[4]!, { dir });
    const written = await writer.finish(600, spec(dir, 600));
    expect(written).toMatchObject({ rows: 80, rejectedRows: 0 });
    expect(written.finishMs).toBeGreaterThanOrEqual(0);
    expect(await readdir(dir)).toEqual(["final-600.parquet"]);
    const file = await readWindowFile(written.path);
    expect(file.rows).toEqual(groups.flat());
    expect(file.metadata.inference_count).toBe("80");
    expect(
      checkWindowRows(file.rows, file.metadata, {
        hotkey: signer.ss58,
        windowStart: 600,
        blockHash: BLOCK_HASH,
      }),
    ).toEqual([]);
    await writer.close();
  });

  it("removes a discarded window's partial file and keeps other windows apart", async () => {
    const dir = join(root, "discard");
    const writer = WindowFileWriter.create("thread", { rowGroupSize: 8 });
    writer.append(630, group(630, 0), { dir });
    writer.append(660, group(660, 0), { dir });
    await vi.waitFor(async () => expect(await partials(dir)).toHaveLength(2), {
      timeout: 10_000,
      interval: 20,
    });
    writer.discard(630);
    await vi.waitFor(
      async () => expect(await partials(dir)).toEqual([`window-660.${writer.token}.partial`]),
      {
        timeout: 10_000,
        interval: 20,
      },
    );
    const written = await writer.finish(660, spec(dir, 660));
    expect(written.rows).toBe(16);
    expect((await readWindowFile(written.path)).rows.every((r) => r.window_start === 660)).toBe(true);
    // close() abandons windows still open: their partial files go too.
    writer.append(690, group(690, 0), { dir });
    await vi.waitFor(async () => expect(await partials(dir)).toHaveLength(1), {
      timeout: 10_000,
      interval: 20,
    });
    await writer.close();
    expect(await partials(dir)).toEqual([]);
  });

  it("leaves a group with a bad row out whole and reports it", async () => {
    const dir = join(root, "inline");
    const writer = WindowFileWriter.create("inline", { rowGroupSize: 16 });
    const good = [group(720, 0), group(720, 2)];
    const bad = group(720, 1).map((r, i) => (i === 4 ? { ...r, nonce: 0.5 } : r));
    writer.append(720, good[0]!, { dir });
    writer.append(720, bad, { dir });
    writer.append(720, good[1]!, { dir });
    const written = await writer.finish(720, spec(dir, 720));
    expect(written).toMatchObject({ rows: 32, rejectedRows: 16 });
    expect(written.rejectedReason).toMatch(/row 20: nonce must be INT64/);
    expect((await readWindowFile(written.path)).rows).toEqual(good.flat());
    await writer.close();
  });

  it("writes a file for a window finished without rows, in the final path's directory", async () => {
    const dir = join(root, "empty");
    const writer = WindowFileWriter.create("inline");
    const written = await writer.finish(750, spec(dir, 750));
    expect(written.rows).toBe(0);
    expect((await readWindowFile(written.path)).rows).toEqual([]);
    await writer.close();
  });

  it("removes partial files other writers left behind, and only those", async () => {
    const dir = join(root, "stale");
    await mkdir(dir, { recursive: true });
    const writer = WindowFileWriter.create("inline");
    writer.append(780, group(780, 0, 40), { dir });
    await vi.waitFor(async () => expect(await partials(dir)).toHaveLength(1), {
      timeout: 10_000,
      interval: 20,
    });
    await writeFile(join(dir, "window-750.0badc0ffee00.partial"), "left by a killed miner");
    await writeFile(join(dir, "5Abc-window-750.parquet"), "a spooled file");
    expect(await writer.removeStalePartials(dir)).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(
      ["5Abc-window-750.parquet", `window-780.${writer.token}.partial`].sort(),
    );
    expect(existsSync(join(dir, "window-750.0badc0ffee00.partial"))).toBe(false);
    await writer.close();
  });
});
