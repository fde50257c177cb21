import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readBuildInfo } from "@grail/engine-native";
import { DATASETS, writeDatasetCache } from "@grail/environments";
import { FakeHub } from "@grail/environments/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");
// What the engine's build recorded; the CUDA requirement is tested where CUDA was not built.
const buildInfo = readBuildInfo();
const cudaBuilt = buildInfo.cuda.built;
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
      HF_TOKEN: "hf_secret0123456789abcdef",
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
    expect(run.stdout).toMatch(/HF_TOKEN +\[redacted\]/);
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

  test("--check prints the TP × DP layout; a proof GPU inside it needs GRAIL_PIPELINE_PROOF_COLOCATE", () => {
    const dp = {
      CUDA_VISIBLE_DEVICES: "0,1,2,3",
      GRAIL_PIPELINE_VLLM_TP: "2",
      GRAIL_PIPELINE_GENERATION_DP: "2",
      GRAIL_PIPELINE_PROOF_GPU: "3",
    };
    const overlap = miner(["--check"], dp);
    expect(overlap.code).toBe(2);
    expect(overlap.stderr).toContain(
      "Pipeline GPU layout is invalid: visible GPUs 0..3; generation TP=2 × DP=2 on [0,1,2,3]; proof [3] → proof GPU 3 overlaps generation.",
    );
    expect(overlap.stderr).toContain("set GRAIL_PIPELINE_PROOF_COLOCATE=true");
    const beside = miner(["--check"], { ...dp, GRAIL_PIPELINE_PROOF_COLOCATE: "true" });
    expect(beside.code, beside.stderr).toBe(0);
    expect(beside.stdout).toContain(
      "GPU layout: visible GPUs 0..3; generation TP=2 × DP=2 on [0,1,2,3]; proof [3] beside generation (from CUDA_VISIBLE_DEVICES=0,1,2,3)",
    );
    expect(beside.stdout).toContain("GPUs: generation sglang TP=2 × DP=2 on [0,1,2,3], proof [3]");
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
      "BT_NETWORK=test\nNETUID=7\nGRAIL_PIPELINE_VLLM_TP=4\nGRAIL_PIPELINE_PROOF_GPU_IDS=4,5,6,7\nNCCL_P2P_DISABLE=1\n",
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
    expect(run.stdout).toContain(
      "Passed from .env to the generation server and the proof workers: NCCL_P2P_DISABLE",
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
      "GPU layout: visible GPUs unknown; generation TP=1 on [0]; proof [1] (no NVIDIA driver answered nvidia-smi --list-gpus; set CUDA_VISIBLE_DEVICES to check the indices against the devices)",
    );
    const flash = miner([], { PATH: path.join(work, "empty"), GRAIL_PIPELINE_PROOF_FLASH_ATTN: "1" });
    expect(flash.code).toBe(2);
    expect(flash.stderr).toContain("GRAIL_PIPELINE_PROOF_FLASH_ATTN=true is refused");
  });

  test("--check lists the four datasets as present, missing or corrupt with the fix, and downloads nothing", async () => {
    const dataDir = path.join(work, "datasets-check");
    const humaneval = Array.from({ length: 164 }, (_, i) => ({
      task_id: `HumanEval/${i}`,
      prompt: `def f():\n    """return ${i}"""\n`,
      canonical_solution: `    return ${i}\n`,
      test: `def check(candidate):\n    assert candidate() == ${i}\n`,
      entry_point: "f",
    }));
    const { repo, revision } = DATASETS.humaneval;
    await writeDatasetCache(dataDir, "humaneval", { repo, revision }, [
      { config: "openai_humaneval", split: "test", rows: humaneval, sources: [] },
    ]);
    const mbpp = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        task_id: i,
        text: `return ${i}`,
        code: `def f():\n    return ${i}`,
        test_list: [`assert f() == ${i}`],
        test_setup_code: "",
        test_imports: [],
      }));
    await writeDatasetCache(dataDir, "mbpp", DATASETS.mbpp, [
      { config: "full", split: "train", rows: mbpp(374), sources: [] },
      { config: "full", split: "validation", rows: mbpp(90), sources: [] },
      { config: "full", split: "test", rows: mbpp(500), sources: [] },
    ]);
    const table = path.join(dataDir, "datasets", "mbpp", "full", "test.jsonl");
    writeFileSync(table, readFileSync(table, "utf8").replace("return 7", "return 8"));

    const run = miner(["--check"], {
      CUDA_VISIBLE_DEVICES: "0,1",
      GRAIL_CACHE_DIR: dataDir,
      // Nothing listens there: --check must not try.
      HF_ENDPOINT: "http://127.0.0.1:9",
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Datasets (${path.join(dataDir, "datasets")}):`);
    expect(run.stdout).toMatch(/^ {2}gsm8k +missing\b/m);
    expect(run.stdout).toMatch(/^ {2}math +missing\b/m);
    expect(run.stdout).toMatch(/^ {2}mbpp +corrupt: full\/test\.jsonl: sha256 [0-9a-f]{64} differs/m);
    expect(run.stdout).toMatch(/^ {2}humaneval +present \(revision e9b53e1677, 164 rows\)/m);
    expect(run.stdout).toContain(
      "Missing or corrupt datasets are fetched at start from http://127.0.0.1:9 (HF_ENDPOINT); to fetch them now: pnpm datasets:fetch",
    );
    expect(existsSync(path.join(dataDir, "datasets", ".downloads"))).toBe(false);
  });

  test("datasets that cannot be fetched (no hub reachable, empty cache) stop the start, naming the dataset and the fix", async () => {
    const closed = await new FakeHub().start();
    await closed.stop();
    const run = miner([], {
      GRAIL_DEVNET_DATASETS: "real",
      HF_ENDPOINT: closed.url,
      GRAIL_DEVNET_CHAIN: "embedded",
      GRAIL_DEVNET_WINDOWS: "1",
      GRAIL_CACHE_DIR: path.join(work, "cache-offline"),
    });
    expect(run.code, run.stderr.slice(-3_000)).toBe(1);
    const error = jsonLines(run.stderr).find((l) => l.level === "error");
    expect(String(error?.msg)).toMatch(/^dataset "gsm8k" is missing and could not be fetched/);
    expect(String(error?.msg)).toContain(closed.url);
    expect(String(error?.msg)).toContain("pnpm datasets:fetch");
    expect(String(error?.msg)).toContain("HF_ENDPOINT");
    expect(run.stdout).not.toMatch(/^local network: /m);
  });

  test("GRAIL_LOG_FILE receives the same lifecycle lines", () => {
    const file = path.join(work, "logs", "miner.log");
    const run = miner(["--check"], { CUDA_VISIBLE_DEVICES: "0,1", GRAIL_LOG_FILE: file });
    expect(run.code).toBe(0);
    const lines = jsonLines(readFileSync(file, "utf8"));
    expect(lines.map((l) => l.msg)).toEqual(["miner starting", "configuration checked; stopping"]);
  });
});

describe("--check refuses or warns about wrong configurations", () => {
  const ACCOUNT = "0123456789abcdef0123456789abcdef";
  const wallets = path.join(work, "wallets");
  /** A real-network configuration with everything set, so only the case under test is wrong. */
  const realNetwork = (wallet: string): Record<string, string> => ({
    BT_NETWORK: "test",
    NETUID: "7",
    BT_WALLET_PATH: wallets,
    BT_WALLET_COLD: wallet,
    BT_WALLET_HOT: "miner",
    R2_ACCOUNT_ID: ACCOUNT,
    R2_BUCKET_ID: ACCOUNT,
    R2_READ_ACCESS_KEY_ID: "a".repeat(32),
    R2_READ_SECRET_ACCESS_KEY: "b".repeat(64),
    R2_WRITE_ACCESS_KEY_ID: "c".repeat(32),
    R2_WRITE_SECRET_ACCESS_KEY: "d".repeat(64),
    CUDA_VISIBLE_DEVICES: "0,1",
    // Not what these tests are about; the CUDA requirement has its own test below.
    GRAIL_PIPELINE_PROOF_ALLOW_CPU: "true",
  });
  const hotkeyFile = (wallet: string, content: string | Uint8Array, mode = 0o600) => {
    const file = path.join(wallets, wallet, "hotkeys", "miner");
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    chmodSync(file, mode);
    return file;
  };
  // btwallet's rule for the password variable of a keyfile (spec/chain.md §6.2), written out here.
  const passwordVariable = (file: string) =>
    `BT_PW_${file.replaceAll("/", "_").replaceAll(".", "_").toUpperCase()}`;
  const SEED_KEYFILE = JSON.stringify({ secretSeed: `0x${"ab".repeat(32)}` });

  test("misspelled variables are warned about with the nearest setting, at --check and at start", () => {
    const cwd = path.join(work, "misspelled");
    mkdirSync(cwd, { recursive: true });
    writeFileSync(path.join(cwd, ".env"), "GRAIL_PIPELINE_PROOF_GPU_ID=1\nGRAIL_TOTALLY_UNRELATED=1\n");
    const env = {
      BT_NETUIDD: "7",
      CUDA_VISIBLE_DEVICES: "0,1",
      HOSTNAME: "box",
      CUDA_HOME: "/usr/local/cuda",
    };
    const checked = miner(["--check"], env, cwd);
    expect(checked.code).toBe(0);
    const spelling = [
      "GRAIL_PIPELINE_PROOF_GPU_ID (from .env) is not a setting of this miner and is ignored; did you mean GRAIL_PIPELINE_PROOF_GPU_IDS?",
      "BT_NETUIDD (from environment) is not a setting of this miner and is ignored; did you mean BT_NETUID?",
    ];
    for (const line of spelling) expect(checked.stdout).toContain(line);
    expect(checked.stdout).toContain(
      "GRAIL_TOTALLY_UNRELATED (from .env) is not a setting of this miner and is ignored; .env.example lists every setting",
    );
    expect(checked.stdout).not.toContain("HOSTNAME");
    expect(checked.stdout).not.toContain("CUDA_HOME");
    const warned = jsonLines(checked.stderr).filter((l) => l.msg === "configuration warning");
    expect(warned.map((l) => l.variables)).toEqual([
      ["GRAIL_PIPELINE_PROOF_GPU_ID"],
      ["GRAIL_TOTALLY_UNRELATED"],
      ["BT_NETUIDD"],
    ]);
    expect(warned[0]).toMatchObject({ level: "warn" });

    const started = miner([], { ...env, BT_NETWORK: "test" }, cwd);
    expect(started.code).toBe(2);
    for (const line of spelling) expect(started.stdout).toContain(line);
  });

  test("repeated or overlapping GPU ids are refused even when the GPU count is unknown", () => {
    const run = miner(["--check"], {
      PATH: path.join(work, "empty"),
      GRAIL_PIPELINE_PROOF_GPU_IDS: "0,2,2",
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "Pipeline GPU layout is invalid: visible GPUs unknown; generation TP=1 on [0]; proof [0,2,2] → proof GPU 0 overlaps generation; proof GPU 2 is listed twice.",
    );
  });

  test("--check loads the hotkey as a start does: a garbage or encrypted hotkey is an error with its fix", () => {
    hotkeyFile("garbage", "this is not a keyfile");
    const garbage = miner(["--check"], realNetwork("garbage"));
    expect(garbage.code).toBe(2);
    expect(garbage.stdout).not.toContain("Nothing is missing");
    expect(garbage.stdout).toContain(
      `  - BT_WALLET_COLD, BT_WALLET_HOT, BT_WALLET_PATH: keyfile ${path.join(wallets, "garbage", "hotkeys", "miner")} is not valid JSON`,
    );

    const sealed = new Uint8Array(5 + 24 + 80);
    sealed.set(new TextEncoder().encode("$NACL"));
    const locked = hotkeyFile("locked", sealed);
    const encrypted = miner(["--check"], realNetwork("locked"));
    expect(encrypted.code).toBe(2);
    expect(encrypted.stdout).not.toContain("Nothing is missing");
    expect(encrypted.stdout).toContain(`  - ${passwordVariable(locked)}: hotkey ${locked} is encrypted`);

    hotkeyFile("good", SEED_KEYFILE);
    const good = miner(["--check"], realNetwork("good"));
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain("Nothing is missing for a real-network run.");
    expect(good.stdout).toMatch(/hotkey 5[1-9A-HJ-NP-Za-km-z]{47} loads from .*\/good\/hotkeys\/miner/);
  });

  test.skipIf(cudaBuilt)(
    "a real network on a machine without CUDA: the start fails with the build's reason and the fix",
    () => {
      hotkeyFile("no-cuda", SEED_KEYFILE);
      const { GRAIL_PIPELINE_PROOF_ALLOW_CPU: _, ...env } = realNetwork("no-cuda");
      const start = miner([], env);
      expect(start.code).toBe(2);
      expect(start.stderr).toContain("Cannot mine on test: GRAIL_PIPELINE_PROOF_ALLOW_CPU");
      expect(start.stdout).toContain(
        `  - GRAIL_PIPELINE_PROOF_ALLOW_CPU: proof GPU(s) 1 need the native engine's CUDA backend on test, and it is unavailable: ${buildInfo.cuda.reason}`,
      );
      expect(start.stdout).toContain("GRAIL_ENGINE_CUDA=1 pnpm --filter @grail/engine-native build");

      const checked = miner(["--check"], env);
      expect(checked.code).toBe(2);
      expect(checked.stdout).not.toContain("Nothing is missing");

      const allowed = miner(["--check"], realNetwork("no-cuda"));
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(allowed.stdout).toContain(
        `proof backend: CPU, allowed by GRAIL_PIPELINE_PROOF_ALLOW_CPU (${buildInfo.cuda.reason})`,
      );
      // Torch-engine proof GPUs do not need the native CUDA backend.
      const torch = miner(["--check"], { ...env, GRAIL_PIPELINE_PROOF_ENGINE: "torch" });
      expect(torch.code, torch.stdout).toBe(0);
    },
  );

  test("proofs beside generation on a real network: --check shows the layout and that the memory fraction will be lowered", () => {
    hotkeyFile("beside", SEED_KEYFILE);
    const env = {
      ...realNetwork("beside"),
      GRAIL_PIPELINE_GENERATION_DP: "2",
      GRAIL_PIPELINE_PROOF_COLOCATE: "true",
    };
    const checked = miner(["--check"], env);
    expect(checked.code, checked.stdout).toBe(0);
    expect(checked.stdout).toContain("generation TP=1 × DP=2 on [0,1]; proof [1] beside generation");
    expect(checked.stdout).toContain(
      "proofs beside generation on GPU 1: GRAIL_PIPELINE_GPU_MEM_UTIL=0.9 is lowered by the proof engine's memory need when the first checkpoint arrives",
    );
  });

  test("an encrypted hotkey's error names the variable the wallet loader reads", () => {
    const sealed = new Uint8Array(5 + 24 + 80);
    sealed.set(new TextEncoder().encode("$NACL"));
    const locked = hotkeyFile("locked-start", sealed);
    const run = miner([], realNetwork("locked-start"));
    expect(run.code).toBe(1);
    const error = jsonLines(run.stderr).find((l) => l.level === "error");
    expect(String(error?.msg)).toContain(`hotkey ${locked} is encrypted and no password was given`);
    expect(String(error?.msg)).toContain(`set ${passwordVariable(locked)}`);
    // no setting of this miner carries a password: only btwallet's variable does
    expect(String(error?.msg)).not.toContain("password setting");
  });

  test("warns about a hotkey readable by others and metrics served beyond loopback", () => {
    const file = hotkeyFile("open", SEED_KEYFILE, 0o644);
    const run = miner(["--check"], {
      ...realNetwork("open"),
      GRAIL_MONITORING_BACKEND: "prometheus",
      GRAIL_PROMETHEUS_HOST: "0.0.0.0",
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `hotkey file ${file} is readable by other users (mode 0644); restrict it to its owner: chmod 600 ${file}`,
    );
    expect(run.stdout).toContain(
      "GRAIL_PROMETHEUS_HOST=0.0.0.0 serves /metrics and /healthz beyond this machine",
    );
    const warned = jsonLines(run.stderr).filter((l) => l.msg === "configuration warning");
    expect(warned.map((l) => l.variables)).toEqual([
      ["GRAIL_PROMETHEUS_HOST"],
      ["BT_WALLET_COLD", "BT_WALLET_HOT", "BT_WALLET_PATH"],
    ]);

    hotkeyFile("open", SEED_KEYFILE, 0o600);
    const quiet = miner(["--check"], {
      ...realNetwork("open"),
      GRAIL_MONITORING_BACKEND: "prometheus",
      GRAIL_PROMETHEUS_HOST: "127.0.0.2",
    });
    expect(quiet.code).toBe(0);
    expect(jsonLines(quiet.stderr).filter((l) => l.msg === "configuration warning")).toEqual([]);
    expect(quiet.stdout).not.toContain("Warnings");
  });
});
