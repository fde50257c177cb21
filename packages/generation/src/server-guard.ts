#!/usr/bin/env node
/**
 * Runs in front of the generation server: `server-guard.js --grace-ms N -- <command> <args…>`.
 * The supervisor starts it as the leader of a new process group with a pipe on its stdin that it
 * never writes. When the pipe closes, the supervising miner is gone (even after kill -9, which no
 * exit hook sees, and Node cannot ask the kernel for a parent-death signal): the guard then ends
 * the whole group, the server and its tensor-parallel workers, SIGTERM first and SIGKILL after
 * N ms. Otherwise it only relays: it exits as the server exits, with the same code or signal.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";

const argv = process.argv.slice(2);
const split = argv.indexOf("--");
const graceFlag = argv.indexOf("--grace-ms");
const graceMs = graceFlag >= 0 && graceFlag < split ? Number(argv[graceFlag + 1]) : 3_000;
const [command, ...args] = split >= 0 ? argv.slice(split + 1) : [];
if (!command || !Number.isFinite(graceMs) || graceMs < 0) {
  process.stderr.write("usage: server-guard --grace-ms <ms> -- <command> [args…]\n");
  process.exit(2);
}

// Once the supervisor is gone, nobody reads these pipes: a failed write must not end the guard.
process.stdout.on("error", () => undefined);
process.stderr.on("error", () => undefined);
const say = (line: string) => process.stderr.write(`[guard] ${line}\n`);
const killGroup = (signal: NodeJS.Signals) => {
  try {
    process.kill(-process.pid, signal);
  } catch {
    // the group is already empty
  }
};

// The supervisor signals the whole group to stop the server; the guard follows the server out.
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
const wait = () => undefined;
for (const s of STOP_SIGNALS) process.on(s, wait);

let ending = false;

// Same process group as the guard (not detached), so one signal to the group reaches everything.
const server = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
server.once("error", (error) => {
  say(`could not start ${command}: ${error.message}`);
  process.exit(127);
});
server.once("exit", (code, signal) => {
  // Stopping after the supervisor died: take the server's workers along (this ends the guard too).
  if (ending) killGroup("SIGKILL");
  if (signal) {
    for (const s of STOP_SIGNALS) process.off(s, wait);
    process.kill(process.pid, signal);
    // A signal Node ignores (SIGPIPE) does not end the guard; exit as a shell reports it.
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
    return;
  }
  process.exit(code ?? 1);
});

const parentGone = () => {
  if (ending) return;
  ending = true;
  killGroup("SIGTERM");
  say(`the supervising process is gone: stopping the server (process group ${process.pid})`);
  setTimeout(() => killGroup("SIGKILL"), graceMs);
};
process.stdin.on("end", parentGone);
process.stdin.on("close", parentGone);
process.stdin.on("error", parentGone);
process.stdin.resume();
