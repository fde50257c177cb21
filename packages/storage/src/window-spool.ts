/**
 * The upload spool's records (spec/miner-pipeline.md §7.2). A sealed window file
 * `<spoolDir>/<key basename>` has a sidecar `<file>.json` saying where it goes, until when, and
 * what was sealed (size, rows, sha256), so a file found after a crash is checked before upload:
 * one that changed since its seal is moved to `<spoolDir>/quarantine/`, never uploaded.
 */
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { SpoolFileCorruptError, WindowFileFormatError } from "./errors.js";
import { sha256File } from "./file-hash.js";
import { readWindowFileFooter, windowObjectKey } from "./window-file.js";

export interface SpoolEntry {
  /** The Parquet file in the spool directory (taken from the sidecar's own name when read back). */
  path: string;
  key: string;
  hotkey: string;
  windowStart: number;
  deadlineMs: number;
  /** Bytes, rows and sha256 (hex) of the file when it was sealed. */
  size: number;
  rows: number;
  sha256: string;
  /** Set when the sidecar read back could not be parsed; such an entry never verifies. */
  unreadable?: string;
}

/** Where files that fail verification are moved, inside the spool directory. */
export const QUARANTINE_DIR = "quarantine";

const SIDECAR_SUFFIX = ".json";
const FILE_NAME = /^(.+)-window-(\d+)\.parquet$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sidecarPath(path: string): string {
  return `${path}${SIDECAR_SUFFIX}`;
}

/**
 * Records a freshly sealed window file in the spool: hashes it and writes its sidecar (through a
 * temporary file and a rename, so a crash leaves either no sidecar or a whole one).
 */
export async function sealSpoolEntry(
  path: string,
  input: { hotkey: string; windowStart: number; deadlineMs: number; rows: number },
): Promise<SpoolEntry> {
  const entry: SpoolEntry = {
    path,
    key: windowObjectKey(input.hotkey, input.windowStart),
    hotkey: input.hotkey,
    windowStart: input.windowStart,
    deadlineMs: input.deadlineMs,
    size: (await stat(path)).size,
    rows: input.rows,
    sha256: await sha256File(path),
  };
  const tmp = `${sidecarPath(path)}.tmp`;
  await writeFile(tmp, JSON.stringify(entry));
  await rename(tmp, sidecarPath(path));
  return entry;
}

/**
 * Every sidecar in the spool as an entry (not yet verified). A sidecar whose file is gone is
 * debris from a crash mid-cleanup and is removed; so are half-written sidecar temporaries.
 */
export async function readSpoolEntries(spoolDir: string): Promise<SpoolEntry[]> {
  let names: string[];
  try {
    names = await readdir(spoolDir);
  } catch {
    return [];
  }
  const out: SpoolEntry[] = [];
  for (const name of names) {
    if (name.endsWith(".parquet.json.tmp")) await rm(join(spoolDir, name), { force: true });
    if (!name.endsWith(`.parquet${SIDECAR_SUFFIX}`)) continue;
    const sidecar = join(spoolDir, name);
    // The file is the sidecar's namesake: a path written inside the sidecar is not trusted.
    const path = sidecar.slice(0, -SIDECAR_SUFFIX.length);
    if (!(await exists(path))) {
      await rm(sidecar, { force: true });
      continue;
    }
    const m = FILE_NAME.exec(basename(path));
    const fromName = { hotkey: m?.[1] ?? "", windowStart: m ? Number(m[2]) : Number.NaN };
    try {
      const raw = JSON.parse(await readFile(sidecar, "utf8")) as unknown;
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error("not a JSON object");
      out.push({ ...(raw as SpoolEntry), path });
    } catch (err) {
      out.push({
        path,
        ...fromName,
        key: "",
        deadlineMs: Number.NaN,
        size: Number.NaN,
        rows: Number.NaN,
        sha256: "",
        unreadable: (err as Error).message,
      });
    }
  }
  return out;
}

/**
 * Checks a spooled file against its sidecar: the sidecar's fields, then the file's size, sha256,
 * and Parquet footer (row count, inference_count, wallet, window_start). Throws
 * SpoolFileCorruptError saying what differs.
 */
export async function verifySpoolEntry(entry: SpoolEntry): Promise<void> {
  const fail = (what: string): never => {
    throw new SpoolFileCorruptError(`spooled file ${entry.path} failed verification: ${what}`, {
      path: entry.path,
      key: entry.key,
    });
  };
  if (entry.unreadable !== undefined) fail(`its sidecar is unreadable (${entry.unreadable})`);
  const bad = sidecarProblem(entry);
  if (bad) fail(`its sidecar ${bad}`);
  const size = (await stat(entry.path)).size;
  if (size !== entry.size) fail(`it is ${size} bytes, ${entry.size} were sealed`);
  const sha = await sha256File(entry.path);
  if (sha !== entry.sha256) fail(`sha256 ${sha}, ${entry.sha256} was sealed`);
  let footer: Awaited<ReturnType<typeof readWindowFileFooter>>;
  try {
    footer = await readWindowFileFooter(entry.path);
  } catch (err) {
    if (!(err instanceof WindowFileFormatError)) throw err;
    return fail(err.message);
  }
  const expected: Record<string, string> = {
    wallet: entry.hotkey,
    window_start: String(entry.windowStart),
    inference_count: String(entry.rows),
  };
  if (footer.rows !== entry.rows) fail(`its footer counts ${footer.rows} rows, ${entry.rows} were sealed`);
  for (const [k, v] of Object.entries(expected)) {
    if (footer.metadata[k] !== v)
      fail(`its footer's ${k} is ${JSON.stringify(footer.metadata[k])}, not "${v}"`);
  }
}

function sidecarProblem(e: SpoolEntry): string | null {
  if (typeof e.hotkey !== "string" || e.hotkey === "") return "has no hotkey";
  if (!Number.isSafeInteger(e.windowStart) || e.windowStart < 0) return `has window ${e.windowStart}`;
  if (e.key !== windowObjectKey(e.hotkey, e.windowStart) || basename(e.key) !== basename(e.path)) {
    return `names key ${JSON.stringify(e.key)}, which is not this file's`;
  }
  if (typeof e.deadlineMs !== "number" || !Number.isFinite(e.deadlineMs)) return "has no deadline";
  if (!Number.isSafeInteger(e.size) || e.size <= 0) return `records size ${e.size}`;
  if (!Number.isSafeInteger(e.rows) || e.rows < 0) return `records ${e.rows} rows`;
  if (typeof e.sha256 !== "string" || !SHA256_HEX.test(e.sha256)) {
    return "records no sha256 (written before spooled files were checksummed, or edited)";
  }
  return null;
}

/**
 * Moves a spooled file and its sidecar to `<spoolDir>/quarantine/` (kept for inspection, never
 * uploaded) and returns the file's new path.
 */
export async function quarantineSpoolFile(spoolDir: string, path: string, nowMs: number): Promise<string> {
  const dir = join(spoolDir, QUARANTINE_DIR);
  await mkdir(dir, { recursive: true });
  let dest = join(dir, basename(path));
  if (await exists(dest)) dest = join(dir, `${nowMs}-${basename(path)}`);
  for (const [from, to] of [
    [path, dest],
    [sidecarPath(path), sidecarPath(dest)],
  ] as const) {
    await rename(from, to).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
  return dest;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
