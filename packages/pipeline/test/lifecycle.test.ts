import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { entryPoints, isAlive, repoRoot, tinyModel, waitFor } from "./helpers.js";

/** Starts the fixture coordinator and waits for it to report its worker pids. */
async function startHost(modelDir: string) {
  const host = spawn(
    process.execPath,
    [
      join(repoRoot, "packages/pipeline/test/fixtures/pool-host.mjs"),
      modelDir,
      entryPoints.main,
      entryPoints.thread,
      entryPoints.torch,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  host.stderr!.on("data", (d) => {
    stderr += String(d);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    host.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = "";
    host.stdout!.on("data", (d) => {
      out += String(d);
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve((JSON.parse(line!) as { pids: number[] }).pids);
    });
    void exit.then((e) => reject(new Error(`host exited early (${JSON.stringify(e)}): ${stderr}`)));
  });
  expect(pids).toHaveLength(2);
  for (const pid of pids) expect(isAlive(pid)).toBe(true);
  return { host, pids, exit, stderr: () => stderr };
}

describe("proof pool: no orphan workers", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} to the coordinator ends every worker before it exits`, async () => {
      const { host, pids, exit, stderr } = await startHost(tinyModel());
      // Let a few batches run so the signal lands mid-work.
      await sleep(150);
      host.kill(signal);
      const e = await exit;
      expect(e.signal, stderr()).toBe(signal);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
      expect(stderr()).toMatch(new RegExp(`${signal}: stopping proof workers`));
    });
  }

  it("workers exit on their own when the coordinator is killed with SIGKILL", async () => {
    const { host, pids, exit } = await startHost(tinyModel());
    host.kill("SIGKILL");
    await exit;
    await waitFor(() => pids.every((p) => !isAlive(p)), 10_000, "workers to notice the closed pipe");
  });
});
