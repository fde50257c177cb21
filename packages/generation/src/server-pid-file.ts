import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BasicLogger } from "@grail/log";

/**
 * Set in the environment of every server process the supervisor starts (inherited by the server's
 * own workers): how a later start recognises our processes, whatever pid they have now.
 */
export const SERVER_ID_ENV = "GRAIL_GENERATION_SERVER_ID";

const KIND = "grail-generation";
const TOKEN_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the pid file records about a running server and the miner that started it. */
interface ServerRecord {
  server: typeof KIND;
  /** The process that leads the server's process group. */
  pid: number;
  /** The value of SERVER_ID_ENV in every process of that server. */
  token: string;
  ownerPid: number;
  /** The owner's start time (clock ticks since boot): tells it from a later process with its pid. */
  ownerStart: string;
}

export function newServerToken(): string {
  return randomUUID();
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat); null when gone. */
async function startTicks(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function parseRecord(text: string): ServerRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const r = v as Record<string, unknown>;
  const pid = (x: unknown) => Number.isSafeInteger(x) && (x as number) > 1;
  if (
    r.server !== KIND ||
    !pid(r.pid) ||
    !pid(r.ownerPid) ||
    typeof r.token !== "string" ||
    !TOKEN_RE.test(r.token) ||
    typeof r.ownerStart !== "string" ||
    !/^\d+$/.test(r.ownerStart)
  ) {
    return null;
  }
  return r as unknown as ServerRecord;
}

/** Processes (of this user: others' environments are unreadable) whose environment holds `entry`. */
async function processesWith(entry: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || pid === process.ppid) continue;
    try {
      const env = await readFile(`/proc/${pid}/environ`, "latin1");
      if (env.split("\0").includes(entry)) found.push(pid);
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

/** Whether a process runs (a zombie does not). */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}

/** Waits up to `ms` for the processes to end; returns those still running. */
async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = [...pids];
  for (;;) {
    const flags = await Promise.all(left.map(running));
    left = left.filter((_, i) => flags[i]);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(50);
  }
}

function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * The supervisor's pid file (in the miner's cache directory). A server that outlived its miner
 * (the guard in front of it died with it) keeps its GPU memory; the next start reads the file and
 * stops that server before launching, recognising its processes by the token in their environment
 * so that a reused pid is never signalled. A server whose miner still runs is left alone.
 */
export class ServerPidFile {
  constructor(
    readonly file: string,
    private readonly logger: BasicLogger,
  ) {}

  async write(pid: number, token: string): Promise<void> {
    const record: ServerRecord = {
      server: KIND,
      pid,
      token,
      ownerPid: process.pid,
      ownerStart: (await startTicks(process.pid)) ?? "0",
    };
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(record)}\n`);
    await rename(tmp, this.file);
  }

  /** Removes the file if it still names the server with this token. */
  async remove(token: string): Promise<void> {
    const text = await readFile(this.file, "utf8").catch(() => null);
    if (text !== null && parseRecord(text)?.token === token) await rm(this.file, { force: true });
  }

  /** Stops the server the file names when its miner is gone; returns the pids it stopped. */
  async stopLeftover(graceMs: number): Promise<number[]> {
    const text = await readFile(this.file, "utf8").catch(() => null);
    if (text === null) return [];
    const record = parseRecord(text);
    if (!record) {
      this.logger.warn(`ignoring ${this.file}: not a generation server pid file; nothing was stopped`);
      return [];
    }
    const ownerStart = await startTicks(record.ownerPid);
    const ownerAlive = ownerStart === record.ownerStart;
    if (ownerAlive && record.ownerPid !== process.pid) {
      this.logger.warn(
        `the generation server in ${this.file} belongs to a running miner (pid ${record.ownerPid}); left alone. Give each miner its own GRAIL_CACHE_DIR`,
      );
      return [];
    }
    let pids: number[];
    try {
      pids = await processesWith(`${SERVER_ID_ENV}=${record.token}`);
    } catch (error) {
      // No /proc: our processes cannot be told from others, so none is signalled.
      this.logger.warn(`cannot look for a leftover generation server: ${(error as Error).message}`);
      return [];
    }
    if (pids.length > 0) {
      signalAll(pids, "SIGTERM");
      const stubborn = await waitGone(pids, graceMs);
      signalAll(stubborn, "SIGKILL");
      // SIGKILL lands asynchronously: the new server must not race the old one for GPU memory.
      const left = await waitGone(stubborn, 5_000);
      if (left.length > 0)
        this.logger.warn(`leftover generation server processes ${left.join(", ")} survived SIGKILL`);
      this.logger.warn(
        `stopped a generation server left over from an earlier run (pids ${pids.join(", ")}) before starting a new one`,
      );
    }
    await rm(this.file, { force: true });
    return pids;
  }
}
