import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");
const work = mkdtempSync(path.join(tmpdir(), "grail-miner-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: build first (pnpm turbo run build --filter @grail/miner...)`);
  }
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built miner in an empty directory outside any workspace (so no .env is found unless the
 * test writes one) with only the given variables, PATH and a private HOME.
 */
function miner(args: string[], env: Record<string, string> = {}, cwd = path.join(work, "empty")): Run {
  mkdirSync(cwd, { recursive: true });
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: path.join(work, "home"), ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("grail miner CLI", () => {
  test("--help prints usage and exits 0", () => {
    const run = miner(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: pnpm start:miner");
    expect(run.stdout).toContain("--no-drand");
  });

  test("with nothing configured: the resolved configuration, what is missing, and local mode", () => {
    const run = miner(["--check"], { CUDA_VISIBLE_DEVICES: "0,1" });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("configuration from the environment (no .env file found)");
    expect(run.stdout).toMatch(/BT_NETWORK +local\n/);
    expect(run.stdout).toContain("chain: embedded local network, netuid 200, drand on");
    expect(run.stdout).toContain(
      "GPU layout: visible GPUs 0..1; generation TP=1 on [0]; proof [1] (from CUDA_VISIBLE_DEVICES=0,1)",
    );
    expect(run.stdout).toContain("Missing for a real-network run:");
    expect(run.stdout).toContain("  - R2_WRITE_ACCESS_KEY_ID, R2_WRITE_SECRET_ACCESS_KEY:");
    expect(
      run.stdout
        .trimEnd()
        .endsWith(
          "Local mode: the miner starts the embedded local network and validates every window it mines.",
        ),
    ).toBe(true);
    // lifecycle lines print at verbosity 0; logs are JSON lines on stderr when it is not a terminal
    const logs = jsonLines(run.stderr);
    expect(logs.map((l) => l.msg)).toEqual(["miner starting", "configuration checked; stopping"]);
    expect(logs[0]).toMatchObject({ level: "notice", component: "miner", network: "embedded local network" });
  });

  test("-v adds info lines; --no-drand turns drand off", () => {
    const run = miner(["-v", "--no-drand", "--check"], { CUDA_VISIBLE_DEVICES: "0,1" });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("drand off");
    expect(run.stdout).toMatch(/GRAIL_DRAND +false +\(command line\)/);
    expect(jsonLines(run.stderr).find((l) => l.msg === "visible GPUs")).toMatchObject({
      level: "info",
      count: 2,
    });
  });

  test("secrets never reach stdout or stderr", () => {
    const secrets = {
      R2_READ_SECRET_ACCESS_KEY: "read-secret-0123456789abcdef",
      R2_WRITE_SECRET_ACCESS_KEY: "write-secret-0123456789abcdef",
      WANDB_API_KEY: "wandb-secret-0123456789abcdef",
    };
    const run = miner(["-vv", "--check"], {
      ...secrets,
      R2_READ_ACCESS_KEY_ID: "read-id",
      R2_WRITE_ACCESS_KEY_ID: "write-id",
      CUDA_VISIBLE_DEVICES: "0,1",
    });
    expect(run.code).toBe(0);
    for (const value of Object.values(secrets)) {
      expect(run.stdout).not.toContain(value);
      expect(run.stderr).not.toContain(value);
    }
    expect(run.stdout).toMatch(/R2_WRITE_SECRET_ACCESS_KEY +\[redacted\]/);
  });

  test("an invalid configuration prints every problem and exits 2", () => {
    const run = miner(["--frob"], {
      GRAIL_PIPELINE_VLLM_TP: "abc",
      GRAIL_MONITORING_BACKEND: "datadog",
      R2_WRITE_ACCESS_KEY_ID: "id",
      R2_WRITE_SECRET_ACCESS_KEY: "secret-that-must-not-print",
      GRAIL_PIPELINE_MAX_CONCURRENT: "secret-that-must-not-print",
    });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("Invalid miner configuration (4 problems):");
    expect(run.stderr).toContain('GRAIL_PIPELINE_VLLM_TP="abc" (from environment) is not a number');
    expect(run.stderr).toContain("GRAIL_MONITORING_BACKEND");
    expect(run.stderr).toContain('command line="--frob" is not a known option');
    expect(run.stderr).not.toContain("secret-that-must-not-print");
  });

  test("a GPU layout that does not fit the visible devices exits 2 with the whole layout", () => {
    const run = miner([], { CUDA_VISIBLE_DEVICES: "3", GRAIL_PIPELINE_VLLM_TP: "1" });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "Pipeline GPU layout is invalid: visible GPUs 0..0; generation TP=1 on [0]; proof [1] → proof GPU 1 is out of range",
    );
  });

  test("PROOF_FLASH_ATTN=true is refused", () => {
    const run = miner([], { CUDA_VISIBLE_DEVICES: "0,1", GRAIL_PIPELINE_PROOF_FLASH_ATTN: "true" });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("GRAIL_PIPELINE_PROOF_FLASH_ATTN=true is refused");
  });

  test("a .env in the working directory wins over the environment; a real network without keys is refused before connecting", () => {
    const cwd = path.join(work, "with-env");
    mkdirSync(cwd, { recursive: true });
    writeFileSync(
      path.join(cwd, ".env"),
      "BT_NETWORK=test\nNETUID=7\nGRAIL_PIPELINE_VLLM_TP=4\nGRAIL_PIPELINE_PROOF_GPU_IDS=4,5,6,7\n",
    );
    const run = miner([], { BT_NETWORK: "finney", CUDA_VISIBLE_DEVICES: "0,1,2,3,4,5,6,7" }, cwd);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain(
      `configuration from ${path.join(cwd, ".env")} and the environment (.env values win)`,
    );
    expect(run.stdout).toContain("chain: test at wss://test.finney.opentensor.ai:443, netuid 7, drand on");
    expect(run.stdout).toContain(
      "GPU layout: visible GPUs 0..7; generation TP=4 on [0,1,2,3]; proof [4,5,6,7]",
    );
    expect(run.stderr).toContain(
      "Cannot mine on test: BT_WALLET_COLD/BT_WALLET_HOT/BT_WALLET_PATH, R2_ACCOUNT_ID",
    );
    expect(jsonLines(run.stderr).map((l) => l.msg)).toEqual([
      "miner starting",
      "configuration incomplete; stopping",
    ]);
    const checked = miner(
      ["--check"],
      { BT_NETWORK: "finney", CUDA_VISIBLE_DEVICES: "0,1,2,3,4,5,6,7" },
      cwd,
    );
    expect(checked.code).toBe(2);
  });

  test("without CUDA_VISIBLE_DEVICES the driver is asked for the GPU count", () => {
    const bin = path.join(work, "fake-driver");
    mkdirSync(bin, { recursive: true });
    const fake = path.join(bin, "nvidia-smi");
    writeFileSync(
      fake,
      '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-a)"\necho "GPU 1: NVIDIA H200 (UUID: GPU-b)"\n',
    );
    chmodSync(fake, 0o755);
    const run = miner(["--check"], { PATH: bin });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      "GPU layout: visible GPUs 0..1; generation TP=1 on [0]; proof [1] (from nvidia-smi --list-gpus)",
    );

    const noDriver = miner(["--check"], { PATH: path.join(work, "empty") });
    expect(noDriver.code).toBe(0);
    expect(noDriver.stdout).toContain(
      "GPU layout: not checked (no NVIDIA driver answered nvidia-smi --list-gpus); set CUDA_VISIBLE_DEVICES to check it",
    );
    const flash = miner([], { PATH: path.join(work, "empty"), GRAIL_PIPELINE_PROOF_FLASH_ATTN: "1" });
    expect(flash.code).toBe(2);
    expect(flash.stderr).toContain("GRAIL_PIPELINE_PROOF_FLASH_ATTN=true is refused");
  });

  test("GRAIL_LOG_FILE receives the same lifecycle lines", () => {
    const file = path.join(work, "logs", "miner.log");
    const run = miner(["--check"], { CUDA_VISIBLE_DEVICES: "0,1", GRAIL_LOG_FILE: file });
    expect(run.code).toBe(0);
    const lines = jsonLines(readFileSync(file, "utf8"));
    expect(lines.map((l) => l.msg)).toEqual(["miner starting", "configuration checked; stopping"]);
  });
});
