import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BasicLogger } from "@grail/log";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freePort, ProcessSupervisor } from "../src/index.js";
import { alive, descendants, survivors } from "../src/testing/index.js";
import { packageDir } from "./helpers/paths.js";

const host = path.join(packageDir, "test", "fixtures", "supervisor-host.mjs");
const work = mkdtempSync(path.join(tmpdir(), "grail-server-lifetime-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const spawned: number[] = [];
afterEach(() => {
  // Whatever a failed test left running.
  for (const pid of spawned.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Starts the fixture miner and waits until its server is ready; returns its pid and its process tree. */
async function startHost(
  pidFile?: string,
): Promise<{ child: ChildProcess; pid: number; server: number; tree: number[] }> {
  const child = spawn(process.execPath, [host, ...(pidFile ? [pidFile] : [])], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => {
    err += String(d);
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += String(d);
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    child.once("exit", (code) =>
      reject(new Error(`host exited (${code}) before its server was ready: ${err}`)),
    );
  });
  const { pid, server } = JSON.parse(line) as { pid: number; server: number };
  const tree = descendants(pid);
  spawned.push(...tree);
  return { child, pid, server, tree };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve()),
  );

const lines: string[] = [];
const logger: BasicLogger = {
  debug: () => undefined,
  info: (m) => lines.push(m),
  warn: (m) => lines.push(m),
  error: (m) => lines.push(m),
};

/** A supervisor of a tiny HTTP server, in this process. */
function localSupervisor(pidFile: string): ProcessSupervisor {
  return new ProcessSupervisor({
    name: "fake",
    spec: async () => {
      const port = await freePort();
      return {
        command: process.execPath,
        args: [
          "-e",
          'require("node:http").createServer((q, s) => s.end("{}")).listen(Number(process.argv[1]))',
          String(port),
        ],
        env: process.env,
        baseUrl: `http://127.0.0.1:${port}`,
      };
    },
    healthPaths: ["/health"],
    pollIntervalMs: 20,
    pidFile,
    logger,
  });
}

/** Start time of a process in clock ticks since boot, as /proc/<pid>/stat field 22 gives it. */
function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

function sleeper(env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore", env });
  spawned.push(child.pid!);
  return child;
}

describe.skipIf(!existsSync("/proc"))("generation server lifetime (real processes)", () => {
  it("kill -9 of the supervising process leaves no server process after 5 s", async () => {
    const h = await startHost();
    // The server and the worker it forked, whatever sits between them and the host.
    expect(h.tree.length).toBeGreaterThanOrEqual(2);
    h.child.kill("SIGKILL");
    await exited(h.child);
    expect(await survivors(h.tree, 5_000)).toEqual([]);
  });

  it("a start stops the server a dead miner left behind (pid file), then launches its own", async () => {
    const pidFile = path.join(work, "leftover", "generation-server.pid");
    const h = await startHost(pidFile);
    // The miner and the server's direct parent die together: nothing is left to clean up after them.
    h.child.kill("SIGKILL");
    process.kill(h.server, "SIGKILL");
    await exited(h.child);
    const left = h.tree.filter((p) => p !== h.server && alive(p));
    expect(left.length).toBeGreaterThanOrEqual(1);

    const next = localSupervisor(pidFile);
    await next.start();
    try {
      expect(h.tree.filter(alive)).toEqual([]);
      expect(lines.some((l) => /stopped a generation server left over from an earlier run/.test(l))).toBe(
        true,
      );
      expect(next.state).toBe("ready");
    } finally {
      await next.stop();
    }
    expect(existsSync(pidFile)).toBe(false);
  });

  it("never stops a process the pid file names unless it is our server of a miner that is gone", async () => {
    const pidFile = path.join(work, "foreign", "generation-server.pid");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(path.dirname(pidFile), { recursive: true });
    // An unrelated process under the recorded pid (pid reuse), its miner gone.
    const unrelated = sleeper();
    const deadOwner = sleeper();
    const deadOwnerTicks = startTicks(deadOwner.pid!);
    deadOwner.kill("SIGKILL");
    await exited(deadOwner);
    writeFileSync(
      pidFile,
      JSON.stringify({
        server: "grail-generation",
        pid: unrelated.pid,
        token: randomUUID(),
        ownerPid: deadOwner.pid,
        ownerStart: deadOwnerTicks,
      }),
    );
    // A server of another miner that is still running (same cache directory): its token matches.
    const token = randomUUID();
    const othersServer = sleeper({ ...process.env, GRAIL_GENERATION_SERVER_ID: token });
    const otherMiner = sleeper();
    const second = path.join(work, "foreign", "other.pid");
    writeFileSync(
      second,
      JSON.stringify({
        server: "grail-generation",
        pid: othersServer.pid,
        token,
        ownerPid: otherMiner.pid,
        ownerStart: startTicks(otherMiner.pid!),
      }),
    );
    // And a pid file that is not one.
    const garbage = path.join(work, "foreign", "garbage.pid");
    writeFileSync(garbage, `${unrelated.pid}\n`);

    for (const file of [pidFile, second, garbage]) {
      const s = localSupervisor(file);
      await s.start();
      await s.stop();
    }
    expect(alive(unrelated.pid!)).toBe(true);
    expect(alive(othersServer.pid!)).toBe(true);
    expect(lines.some((l) => /belongs to a running miner \(pid \d+\); left alone/.test(l))).toBe(true);
    expect(lines.some((l) => /ignoring .*garbage\.pid: not a generation server pid file/.test(l))).toBe(true);
  });
});
