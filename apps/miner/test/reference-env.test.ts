import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWandbServer } from "@grail/metrics/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, "..", "dist", "main.js");
/** The reference miner's .env.example as typed into the config package's fixtures. */
const REFERENCE_ENV = path.resolve(
  here,
  "..",
  "..",
  "..",
  "packages",
  "config",
  "test",
  "fixtures",
  "reference.env",
);
const work = mkdtempSync(path.join(tmpdir(), "grail-miner-reference-env-"));
const home = path.join(work, "home");
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: build first (pnpm turbo run build --filter @grail/miner...)`);
  }
});

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const COLDKEY = "operator";

/**
 * An operator's .env copied from the reference: its every line, then what the operator fills in
 * (wallet name, bucket; later lines win). The log file moves from /var/log into the test's directory.
 */
function operatorEnv(name: string, extra: Record<string, string> = {}): string {
  const cwd = path.join(work, name);
  mkdirSync(cwd, { recursive: true });
  const own = {
    BT_WALLET_COLD: COLDKEY,
    R2_BUCKET_ID: ACCOUNT,
    R2_ACCOUNT_ID: ACCOUNT,
    GRAIL_LOG_FILE: path.join(cwd, "grail.log"),
    // A test machine may lack CUDA; a real network then needs the explicit CPU opt-in.
    GRAIL_PIPELINE_PROOF_ALLOW_CPU: "true",
    ...extra,
  };
  const lines = Object.entries(own).map(([k, v]) => `${k}=${v}`);
  writeFileSync(path.join(cwd, ".env"), `${readFileSync(REFERENCE_ENV, "utf8")}\n${lines.join("\n")}\n`);
  // BT_WALLET_HOT=default in the reference; the wallet directory is the default under HOME
  const hotkey = path.join(home, ".bittensor", "wallets", COLDKEY, "hotkeys", "default");
  mkdirSync(path.dirname(hotkey), { recursive: true });
  writeFileSync(hotkey, JSON.stringify({ secretSeed: `0x${"cd".repeat(32)}` }), { mode: 0o600 });
  return cwd;
}

const baseEnv = () => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  CUDA_VISIBLE_DEVICES: "0,1",
});

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("an operator's .env copied from the reference miner", () => {
  test("--check accepts it, lists the ignored variables with their reasons and says where the metrics go", () => {
    const cwd = operatorEnv("check");
    const run = spawnSync(process.execPath, [MAIN, "--check"], {
      cwd,
      env: baseEnv(),
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("Nothing is missing for a real-network run.");
    expect(run.stdout).toContain(
      "  - GRAIL_MONITORING_BACKEND=wandb without WANDB_API_KEY: nothing is logged to W&B; the metrics are served for Prometheus on http://127.0.0.1:9464/metrics instead.",
    );
    expect(run.stdout).toContain(
      "  monitoring: W&B off (no WANDB_API_KEY); Prometheus /metrics and /healthz on http://127.0.0.1:9464",
    );
    expect(run.stdout).toMatch(
      / {2}- GRAIL_TRAINER_LR, GRAIL_TRAINER_EPOCHS, .* \(from \.env\) are ignored: /,
    );
    // HF_TOKEN is a setting (sent to the dataset hub) and prints redacted, never as ignored.
    expect(run.stdout).toMatch(/HF_TOKEN +\[redacted\] +\(\.env\)/);
    expect(run.stdout).not.toContain("hf_XXXXXXXX");
    expect(run.stdout).toMatch(
      / {2}- GRAIL_GPU_EVAL, KERNEL_EVAL_GPU_IDS, KERNEL_EVAL_BACKEND, KERNEL_EVAL_TIMEOUT \(from \.env\) are ignored: /,
    );
    expect(run.stdout).not.toContain("is not a setting of this miner");
  });

  test("with WANDB_API_KEY the miner starts a W&B run named after the wallet and finishes it when it stops", async () => {
    const wandb = await startWandbServer();
    const key = "f".repeat(40);
    const cwd = operatorEnv("start", {
      WANDB_API_KEY: key,
      WANDB_BASE_URL: wandb.url,
      // an unreachable node: the start stops at the chain, after monitoring is up
      BT_CHAIN_ENDPOINT: `ws://127.0.0.1:${await freePort()}`,
      BT_INIT_TIMEOUT: "1",
      GRAIL_PROMETHEUS_PORT: String(await freePort()),
    });
    const child = spawn(process.execPath, [MAIN], { cwd, env: baseEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(kill);
    await wandb.close();

    expect(code, stderr).toBe(1);
    expect(stderr).toContain(`cannot connect to the chain at ws://127.0.0.1:`);
    expect(stdout).not.toContain(key);
    expect(stderr).not.toContain(key);
    const upsert = wandb.calls.find((c) => c.operation === "UpsertBucket");
    expect(upsert?.body).toMatchObject({
      project: "grail",
      entity: "tplr",
      displayName: `mining_${COLDKEY}`,
    });
    expect(JSON.parse(String(upsert?.body.config))).toMatchObject({
      operation_type: "mining",
      wallet_name: COLDKEY,
      tags: ["grail", "bittensor", "production", "mining"],
      notes: "GRAIL production monitoring",
    });
    expect(upsert?.authorization).toBe(`Basic ${Buffer.from(`api:${key}`).toString("base64")}`);
    const last = wandb.calls.at(-1);
    expect(last?.path).toBe(`/files/tplr/grail/${String(upsert?.body.name)}/file_stream`);
    expect(last?.body).toEqual({ complete: true, exitcode: 0 });
    const logs = jsonLines(stderr);
    expect(logs.find((l) => l.msg === "W&B run started")).toMatchObject({
      url: `${wandb.url}/tplr/grail/runs/${String(upsert?.body.name)}`,
    });
    expect(logs.find((l) => l.msg === "metrics served")).toBeDefined();
  });
});
