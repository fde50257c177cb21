import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const main = path.resolve(fileURLToPath(new URL("../dist/main.js", import.meta.url)));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [main, ...args], { encoding: "utf8", timeout: 60_000 });

describe("pnpm validate", () => {
  it("prints its usage with --help and exits 0", () => {
    const out = run("--help");
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/Usage: pnpm validate --window W --hotkey SS58/);
    expect(out.stdout).toMatch(/--distribution all\|sampled\|off/);
  });

  it("exits 2 with the usage on missing or malformed arguments", () => {
    const missing = run("--window", "60");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--window and --hotkey are required/);
    const notAWindow = run("--window", "61", "--hotkey", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    expect(notAWindow.status).toBe(2);
    expect(notAWindow.stderr).toMatch(/not a window start/);
    const unknown = run("--frobnicate");
    expect(unknown.status).toBe(2);
  });

  it("exits 2 with the reason when a local file cannot be read", () => {
    const out = run(
      "--window",
      "60",
      "--hotkey",
      "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
      "--block-hash",
      `0x${"11".repeat(32)}`,
      "--challenge-randomness",
      "ab".repeat(32),
      "--file",
      "/nonexistent/window.parquet",
      "--checkpoint-dir",
      "/nonexistent/checkpoint",
      "--checkpoint-window",
      "30",
    );
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/metadata\.json is not readable|cannot read --file/);
  });
});
