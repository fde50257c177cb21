import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CacheDirectorySource, DATASET_IDS, DATASETS, readManifest } from "@grail/environments";
import { FakeHub, SYNTHETIC_MARKER, syntheticHubFiles } from "@grail/environments/testing";
import { afterAll, describe, expect, it } from "vitest";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");
const work = mkdtempSync(path.join(tmpdir(), "grail-miner-local-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runMiner(env: Record<string, string>, timeoutMs: number) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      cwd: work,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: path.join(work, "home"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the miner did not finish in ${timeoutMs} ms\n${stdout}\n${stderr.slice(-5_000)}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("pnpm start:miner with nothing configured (local mode)", () => {
  it("starts the local network on the real subtensor runtime, mines a window and prints its PASS verdict", async () => {
    expect(existsSync(MAIN), "build first: pnpm turbo run build --filter @grail/miner...").toBe(true);
    const run = await runMiner(
      {
        GRAIL_DEVNET_BLOCK_TIME: "1",
        GRAIL_DEVNET_WINDOWS: "1",
        GRAIL_CACHE_DIR: path.join(work, "cache"),
      },
      400_000,
    );
    expect(run.code, run.stderr.slice(-5_000)).toBe(0);
    expect(run.stdout).toContain("LOCAL NETWORK — no real chain is configured");
    expect(run.stdout).toMatch(/local network: chopsticks chain \(netuid 2, 1 s blocks\)/);
    const verdict = /window (\d+): PASS \((\d+)\/(\d+) rollouts checked, checkpoint (\d+)\)/.exec(run.stdout);
    expect(verdict, run.stdout).not.toBeNull();
    expect(Number(verdict![2])).toBe(Number(verdict![3]));
    expect(Number(verdict![2]) % 16).toBe(0);
    expect(run.stderr).toMatch(
      new RegExp(`window ${verdict![1]}: \\d+ groups \\(\\d+ rollouts\\) packaged.*upload uploaded`),
    );
  }, 420_000);

  it("GRAIL_PIPELINE_PROOF_SUBPROCESS=true runs the proof worker as a child process, as on a real network", async () => {
    expect(existsSync(MAIN), "build first: pnpm turbo run build --filter @grail/miner...").toBe(true);
    const run = await runMiner(
      {
        GRAIL_DEVNET_CHAIN: "embedded",
        // Long enough that one CPU batch on a busy 2-core machine leaves time for the upload.
        GRAIL_DEVNET_BLOCK_TIME: "1.5",
        GRAIL_DEVNET_WINDOWS: "1",
        GRAIL_CACHE_DIR: path.join(work, "cache-subprocess"),
        GRAIL_PIPELINE_PROOF_SUBPROCESS: "true",
      },
      170_000,
    );
    expect(run.code, run.stderr.slice(-5_000)).toBe(0);
    const ready = run.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === "proof pool ready");
    expect(ready.length, run.stderr.slice(-5_000)).toBeGreaterThan(0);
    // one ready line per start; a failed process start would fall back and report in-process
    expect(ready.map((l) => l.topology)).toEqual(ready.map(() => "subprocess"));
  }, 180_000);
});

describe("GRAIL_DEVNET_DATASETS=real: the local network on the real datasets, provisioned at start", () => {
  it("fetches the four datasets from HF_ENDPOINT into an empty cache, verifies them and mines a window on them", async () => {
    expect(existsSync(MAIN), "build first: pnpm turbo run build --filter @grail/miner...").toBe(true);
    const hub = await new FakeHub().addPinnedDatasets().start();
    const dataDir = path.join(work, "data-real");
    try {
      const run = await runMiner(
        {
          GRAIL_DEVNET_DATASETS: "real",
          HF_ENDPOINT: hub.url,
          GRAIL_DEVNET_CHAIN: "embedded",
          GRAIL_DEVNET_BLOCK_TIME: "1.5",
          GRAIL_DEVNET_WINDOWS: "1",
          GRAIL_CACHE_DIR: dataDir,
        },
        170_000,
      );
      expect(run.code, run.stderr.slice(-5_000)).toBe(0);
      // Every shard of every dataset was downloaded from the loopback hub, once.
      for (const id of DATASET_IDS) {
        for (const file of syntheticHubFiles(id).keys()) {
          expect(hub.downloads(DATASETS[id].repo, file), `${id} ${file}`).toHaveLength(1);
        }
        const manifest = await readManifest(dataDir, id);
        expect(manifest.revision).toBe(DATASETS[id].revision);
      }
      // The checkpoint's environment (gsm8k train) came from the fetched rows, at the catalog's counts.
      const train = await new CacheDirectorySource(dataDir).table("gsm8k", "main", "train");
      expect(train).toHaveLength(7473);
      expect(train[0]?.question).toContain(SYNTHETIC_MARKER);
      // Without a terminal the download reports progress as log lines.
      const progress = run.stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === "datasets download");
      expect(progress.length, run.stderr.slice(-5_000)).toBeGreaterThanOrEqual(5);
      expect(run.stdout).toMatch(/env gsm8k \(real problems from .*data-real/);
      expect(run.stdout).toMatch(/window \d+: PASS \(\d+\/\d+ rollouts checked/);
    } finally {
      await hub.stop();
    }
  }, 180_000);
});
