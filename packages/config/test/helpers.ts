import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { ConfigError, type LoadConfigOptions, loadConfig } from "../src/index.js";

export const HOME = "/home/miner";

/** loadConfig isolated from the machine: no .env discovery, a fixed home, no global secret registration. */
export function load(env: Record<string, string> = {}, options: Partial<LoadConfigOptions> = {}) {
  return loadConfig({
    env: { HOME, ...env },
    envFile: null,
    cwd: "/srv/miner",
    registerSecrets: false,
    ...options,
  });
}

/** The ConfigError a configuration raises (fails the test when it loads). */
export function configError(
  env: Record<string, string>,
  options: Partial<LoadConfigOptions> = {},
): ConfigError {
  try {
    load(env, options);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

/** A temporary directory removed after the file's tests. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeFile(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}
