import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import dotenv from "dotenv";

/**
 * Where the miner looks for `.env` when none is named: the working directory, then each parent up to
 * the workspace root (the directory holding pnpm-workspace.yaml), so `pnpm start:miner` and a run
 * from apps/miner read the same file. Outside a workspace only the working directory is searched.
 */
export function findEnvFile(cwd: string): string | null {
  const start = path.resolve(cwd);
  const dirs: string[] = [];
  let workspaceRoot: string | null = null;
  for (let dir = start; ; dir = path.dirname(dir)) {
    dirs.push(dir);
    if (existsSync(path.join(dir, "pnpm-workspace.yaml"))) {
      workspaceRoot = dir;
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  const candidates = workspaceRoot ? dirs : [start];
  for (const dir of candidates) {
    const file = path.join(dir, ".env");
    if (existsSync(file)) return file;
  }
  return null;
}

/** Parses a .env file with dotenv's rules: quoted values, `#` comments (also after a value), optional `export`. */
export function readEnvFile(file: string): Record<string, string> {
  return dotenv.parse(readFileSync(file));
}
