import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CliReport } from "../src/cli.js";
import { tempDir, tinyModel, workerMain } from "./helpers.js";

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [workerMain, ...args], {
    env: { ...process.env, GRAIL_WORKER_IPC: "", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const SMALL = ["--backend", "cpu", "--threads", "1", "--prompt-len", "8", "--completion-len", "24"];

describe("pnpm worker --gpu N (debug CLI)", () => {
  it("proves a synthetic batch through a real worker process and matches the CPU reference", () => {
    const dir = tinyModel();
    const saved = join(tempDir(), "batch.json");
    const r = cli([
      "--gpu",
      "0",
      "--model",
      dir,
      "--rollouts",
      "20",
      "--repeat",
      "2",
      "--compare",
      "3",
      "--json",
      "--save-batch",
      saved,
      ...SMALL,
    ]);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as CliReport;
    expect(report).toMatchObject({
      gpu: 0,
      cudaVisibleDevices: "0",
      engine: "native",
      modelDir: dir,
      rollouts: 20,
      bindingsVerified: 20,
      bindingMismatches: [],
      ok: true,
    });
    expect(report.device).toMatch(/^cpu \(1 threads\)/);
    expect(report.workerPid).not.toBe(process.pid);
    expect(report.runs).toHaveLength(2);
    expect(report.rolloutsPerSecond).toBeGreaterThan(0);
    expect(report.comparisons).toHaveLength(3);
    for (const c of report.comparisons) {
      // Same CPU engine in the worker and here: bit-identical.
      expect(c).toMatchObject({
        sketchMax: 0,
        identicalFraction: 1,
        logprobMaxAbs: 0,
        overTolerance: [],
        pass: true,
      });
      expect(c.sampledPositions.length).toBeGreaterThan(0);
    }
    const batch = JSON.parse(readFileSync(saved, "utf8")) as { rollouts: unknown[]; randomnessHex: string };
    expect(batch.rollouts).toHaveLength(20);

    const again = cli([
      "--gpu",
      "0",
      "--model",
      dir,
      "--batch",
      saved,
      "--repeat",
      "1",
      "--compare",
      "1",
      ...SMALL,
    ]);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/batch {4}20 rollouts/);
    expect(again.out).toMatch(/20\/20 commit bindings recomputed from the returned sketches match/);
    expect(again.out).toMatch(/result {3}ok/);
  });

  it("uses the newest cached checkpoint when no --model is given", () => {
    const cache = tempDir();
    mkdirSync(join(cache, "checkpoints"), { recursive: true });
    tinyModel({ seed: 1 }, join(cache, "checkpoints", "checkpoint-30"));
    const newest = join(cache, "checkpoints", "checkpoint-90");
    tinyModel({ seed: 2 }, newest);
    writeFileSync(join(newest, "metadata.json"), JSON.stringify({ model_name: "org/tiny-90" }));
    cpSync(
      join(cache, "checkpoints", "checkpoint-30"),
      join(cache, "checkpoints", "checkpoint-60.123.abc.partial"),
      {
        recursive: true,
      },
    );
    const r = cli(["--gpu", "0", "--rollouts", "4", "--repeat", "1", "--compare", "0", "--json", ...SMALL], {
      GRAIL_CACHE_DIR: cache,
    });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ modelDir: newest, modelName: "org/tiny-90", comparisons: [] });
  });

  it("reads the miner's settings: one the configuration refuses stops it, naming the variable", () => {
    const r = cli(["--gpu", "0", "--model", tinyModel(), ...SMALL], { GRAIL_ENGINE_PROFILE: "maybe" });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/GRAIL_ENGINE_PROFILE="maybe".*true\/false/);
  });

  it("explains bad invocations", () => {
    const noGpu = cli([]);
    expect(noGpu.code).toBe(2);
    expect(noGpu.err).toMatch(/--gpu N is required/);
    expect(noGpu.err).toMatch(/Usage: pnpm worker --gpu N/);
    expect(cli(["--gpu", "0", "--bogus"]).code).toBe(2);
    const hidden = cli(["--gpu", "3", "--model", tinyModel(), ...SMALL], { CUDA_VISIBLE_DEVICES: "0,1" });
    expect(hidden.code).toBe(1);
    expect(hidden.err).toMatch(/proof GPU 3 is not visible: CUDA_VISIBLE_DEVICES=0,1/);
    const badBatch = join(tempDir(), "bad.json");
    writeFileSync(badBatch, JSON.stringify({ rollouts: [{ tokens: [1, 99999], promptLen: 1 }] }));
    const bad = cli(["--gpu", "0", "--model", tinyModel(), "--batch", badBatch, ...SMALL]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/token 1 \(99999\) is outside the vocabulary \[0, 256\)/);
    expect(cli(["--help"]).out).toMatch(/--compare N/);
  });
});
