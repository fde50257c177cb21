/**
 * The local checkpoint cache (spec/miner-pipeline.md §6.8): what makes a cached directory count
 * (every manifest file verified) and the cleanup of windows no longer kept and of orphaned
 * partial directories.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { computeRetentionWindows, type RetentionPolicy } from "./checkpoint-layout.js";
import { containedPathNoLinks } from "./contained-path.js";
import { sha256File } from "./file-hash.js";

/**
 * Checks every manifest entry's sha256; returns the first problem or null when all match. An
 * entry reached through a symbolic link does not count: the cache holds only its own files.
 */
export async function verifyManifest(dir: string, manifest: Record<string, string>): Promise<string | null> {
  for (const [name, expected] of Object.entries(manifest)) {
    try {
      const path = await containedPathNoLinks(dir, name, "manifest entry");
      const actual = await sha256File(path);
      if (actual !== expected) return `${name}: sha256 ${actual} != manifest ${expected}`;
    } catch (err) {
      return `${name}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : (err as Error).message}`;
    }
  }
  return null;
}

/**
 * §6.8 cleanup: removes `checkpoint-<W>` dirs outside the retention set, orphaned
 * `.partial` dirs whose owner process is gone (or, without a parsable PID, older than
 * an hour) and download staging of windows no longer kept.
 */
export async function cleanupCheckpointCache(
  cacheRoot: string,
  retention: RetentionPolicy,
  stalePartialMs: number,
  currentWindow: number,
): Promise<{ removed: string[] }> {
  const keep = computeRetentionWindows(currentWindow, retention);
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(cacheRoot);
  } catch {
    return { removed };
  }
  for (const name of entries) {
    const path = join(cacheRoot, name);
    if (name.endsWith(".partial") && (name.startsWith("checkpoint-") || name.startsWith("delta-"))) {
      const pid = Number(name.split(".").at(-3));
      const orphan =
        Number.isInteger(pid) && pid > 0 ? !processAlive(pid) : await olderThan(path, stalePartialMs);
      if (orphan) {
        await rm(path, { recursive: true, force: true });
        removed.push(name);
      }
      continue;
    }
    const m = /^checkpoint-(\d+)$/.exec(name);
    if (m && !keep.has(Number(m[1]))) {
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    }
  }
  const staging = join(cacheRoot, ".downloads");
  for (const name of await readdir(staging).catch(() => [] as string[])) {
    const m = /^checkpoint-(\d+)$/.exec(name);
    if (m && !keep.has(Number(m[1]))) {
      await rm(join(staging, name), { recursive: true, force: true });
      removed.push(`.downloads/${name}`);
    }
  }
  return { removed };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return false;
  }
}
