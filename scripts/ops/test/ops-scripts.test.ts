import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createMetrics, type MetricsServer, startMetricsServer } from "@grail/metrics";
import { afterAll, afterEach, describe, expect, it } from "vitest";

/** The image's health check and build-time SGLang check, run as the image runs them. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const healthcheck = path.join(repoRoot, "scripts/ops/healthcheck.mjs");
const sglangCheck = path.join(repoRoot, "scripts/ops/check-sglang-launch.mjs");

function run(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      args,
      { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("scripts/ops/healthcheck.mjs", () => {
  let server: MetricsServer | null = null;
  let healthy = true;
  afterEach(async () => {
    await server?.close();
    server = null;
  });
  const start = async () => {
    server = await startMetricsServer({
      metrics: createMetrics({ backend: "null" }),
      host: "127.0.0.1",
      port: 0,
      health: () => ({ healthy, detail: { proofWorkersUp: healthy ? 4 : 0 } }),
    });
    return server;
  };
  const env = (port: number) => ({
    GRAIL_MONITORING_BACKEND: "prometheus",
    GRAIL_PROMETHEUS_HOST: "0.0.0.0",
    GRAIL_PROMETHEUS_PORT: String(port),
  });

  it("exits 0 when /healthz says healthy, asking loopback when the miner binds every address", async () => {
    healthy = true;
    const s = await start();
    const r = await run([healthcheck], env(s.port));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`http://127.0.0.1:${s.port}/healthz → 200`);
    expect(r.stdout).toContain('"proofWorkersUp":4');
  });

  it("exits 1 when /healthz says unhealthy or nothing listens", async () => {
    healthy = false;
    const s = await start();
    const r = await run([healthcheck], env(s.port));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("→ 503");
    const port = s.port;
    await s.close();
    server = null;
    const gone = await run([healthcheck], env(port));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("unreachable");
  });

  it("asks /healthz with wandb too, which serves it as prometheus does", async () => {
    healthy = true;
    const s = await start();
    const r = await run([healthcheck], { ...env(s.port), GRAIL_MONITORING_BACKEND: "wandb" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`http://127.0.0.1:${s.port}/healthz → 200`);
  });

  it("says why when monitoring is off", async () => {
    const r = await run([healthcheck], { GRAIL_MONITORING_BACKEND: "null" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("set it to prometheus");
  });
});

describe("scripts/ops/check-sglang-launch.mjs", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "grail-sglang-help-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A stand-in for `python3 -m sglang.launch_server --help` printing the given usage text. */
  const fakeLauncher = (name: string, usage: string, exitCode = 0) => {
    const file = path.join(dir, `${name}.mjs`);
    writeFileSync(file, `process.stdout.write(${JSON.stringify(usage)}); process.exit(${exitCode});\n`);
    return file;
  };
  const FULL_USAGE = `usage: launch_server.py [-h] --model-path MODEL_PATH [--served-model-name SERVED_MODEL_NAME]
  [--host HOST] [--port PORT] [--dtype {auto,half,float16,bfloat16,float,float32}]
  [--tp-size TP_SIZE] [--dp-size DP_SIZE] [--mem-fraction-static MEM_FRACTION_STATIC] [--context-length CONTEXT_LENGTH]
  [--trust-remote-code] [--load-balance-method {round_robin,shortest_queue,total_tokens}]
  [--disable-custom-all-reduce] [--disable-piecewise-cuda-graph]
  [--max-running-requests MAX_RUNNING_REQUESTS] [--disable-cuda-graph] [--disable-cuda-graph-padding]
`;

  it("passes when the launcher knows every flag the miner passes", async () => {
    const r = await run([sglangCheck, process.execPath, fakeLauncher("full", FULL_USAGE)]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("all 15 launch flags known");
  });

  it("names a flag the launcher lacks, not fooled by a longer flag with the same start", async () => {
    const usage = FULL_USAGE.replace("[--disable-cuda-graph] ", "");
    const r = await run([sglangCheck, process.execPath, fakeLauncher("old", usage)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not know --disable-cuda-graph;");
  });

  it("fails when --help itself fails", async () => {
    const r = await run([
      sglangCheck,
      process.execPath,
      fakeLauncher("broken", "ImportError: libcuda.so.1", 1),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--help failed (exit 1)");
  });
});
