/**
 * kill -9 of the miner (subprocess topology): the generation server (behind its guard) and every
 * proof worker process must be gone within 5 s, whatever the kill left no code of ours to run.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeRandomModel } from "@grail/engine-native";
import { descendants, survivors } from "@grail/generation/testing";
import { afterAll, describe, expect, it } from "vitest";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const host = path.join(repoRoot, "apps/miner/test/fixtures/backends-host.mjs");
const nativeCli = path.join(repoRoot, "packages/generation/dist/native/cli.js");
const work = mkdtempSync(path.join(tmpdir(), "grail-miner-tree-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
};

describe.skipIf(!existsSync("/proc"))("miner process tree", () => {
  it("kill -9 of the miner leaves no child of ours running after 5 s", async () => {
    const modelDir = path.join(work, "checkpoint-30");
    writeRandomModel(modelDir, {
      modelType: "qwen2",
      hiddenSize: 64,
      numLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 128,
      vocabSize: 256,
      seed: 3,
    });
    const miner = spawn(
      process.execPath,
      [host, modelDir, path.join(work, "generation-server.pid"), nativeCli],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    miner.stderr!.on("data", (d) => {
      stderr += String(d);
    });
    const exited = new Promise<void>((resolve) => miner.once("exit", () => resolve()));
    const ready = await new Promise<{ pid: number; generation: number; workers: number[] }>(
      (resolve, reject) => {
        let out = "";
        miner.stdout!.on("data", (d) => {
          out += String(d);
          const line = out.split("\n").find((l) => l.startsWith("ready "));
          if (line) resolve(JSON.parse(line.slice("ready ".length)));
        });
        void exited.then(() =>
          reject(new Error(`the miner exited before its backends were ready: ${stderr}`)),
        );
      },
    );
    const tree = descendants(ready.pid);
    try {
      // What the miner started: the guard and the native server behind it, and both proof workers.
      expect(tree).toContain(ready.generation);
      expect(tree).toEqual(expect.arrayContaining(ready.workers));
      expect(tree.some((p) => cmdline(p).includes("native/cli.js"))).toBe(true);
      miner.kill("SIGKILL");
      await exited;
      const left = await survivors(tree, 5_000);
      expect(left.map((p) => `${p} ${cmdline(p)}`)).toEqual([]);
    } finally {
      for (const pid of tree) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone, as it should be
        }
      }
    }
  });
});
