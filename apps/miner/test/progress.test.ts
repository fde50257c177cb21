import { PassThrough } from "node:stream";
import type { MiningProgress } from "@grail/pipeline";
import { describe, expect, it } from "vitest";
import { formatProgress, ProgressLine } from "../src/index.js";

const base: MiningProgress = {
  phase: "mining",
  window: 1020,
  block: 1031,
  blocksLeft: 19,
  checkpointWindow: 990,
  groupsGenerated: 12,
  groupsProved: 10,
  groupsPackaged: 9,
  groupsDropped: 1,
  rolloutsPackaged: 144,
  rolloutsPerSecond: 6.4321,
  upload: "idle",
  lastUploadedWindow: 990,
  windowsMined: 1,
};

describe("progress line", () => {
  it("shows window, blocks left, groups by stage, throughput and the upload state", () => {
    expect(formatProgress(base)).toBe(
      "window 1020 | 19 blocks left | ckpt 990 | mining | groups gen 12 · proved 10 · packaged 9 · dropped 1 | 6.43 rollouts/s | upload idle (last 990)",
    );
    expect(formatProgress({ ...base, window: null })).toBe("miner mining…");
  });

  it("redraws in place on the terminal and clears the line when stopped", () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (c: Buffer) => {
      text += c.toString();
    });
    const line = new ProgressLine(Object.assign(out, { columns: 40 }), () => base);
    line.draw();
    line.stop();
    expect(text.startsWith("\r\x1b[2Kwindow 1020 | 19 blocks left | ckpt 9")).toBe(true);
    expect(text.split("\r\x1b[2K")[1]!.length).toBe(39);
    expect(text.endsWith("\r\x1b[2K")).toBe(true);
  });
});
