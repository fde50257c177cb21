#!/usr/bin/env node
// The repository is all a user gets: no tracked file may reach outside it. Fails on any mention of
// the sibling "shared" folder beside a checkout and on any relative path that climbs above the
// repository root from the file that holds it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

const root = execFileSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8" }).trim();
const files = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" })
  .split("\0")
  .filter(Boolean);

const BINARY = /\.(safetensors|scale|bin|png|jpe?g|gz|zst|parquet|xz)$/;
// pnpm's lockfile writes workspace links relative to each importer, not to the lockfile.
const SKIP = new Set(["pnpm-lock.yaml"]);
// A line whose path is no path of ours (a hostile name under test) or is resolved from somewhere
// else than its file (a bundle's location) says so, with the reason beside it.
const EXEMPT = /repo-paths: ok\b/;
// `..` steps, alone or leading a path: "../../x", "..", "../..". Not "..." and not "a/../b".
const CLIMB = /(?<![\w./-])((?:\.\.\/)*\.\.)(?![\w.])(\/[\w@.$-]+)*/g;
const SHARED = /\.\.\/shared\b/;

const problems = [];
for (const file of files) {
  if (BINARY.test(file) || SKIP.has(file)) continue;
  let text;
  try {
    text = readFileSync(path.join(root, file), "utf8");
  } catch {
    continue; // listed but absent (a deleted, uncommitted file)
  }
  if (text.includes("\0")) continue;
  const dir = path.dirname(path.join(root, file));
  text.split("\n").forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    if (EXEMPT.test(line)) return;
    if (SHARED.test(line)) {
      problems.push(`${where}: names the sibling shared folder, which is outside the repository`);
      return;
    }
    for (const m of line.matchAll(CLIMB)) {
      const target = path.resolve(dir, m[0]);
      if (target !== root && !target.startsWith(root + path.sep)) {
        problems.push(`${where}: "${m[0]}" climbs out of the repository (to ${path.relative(root, target)})`);
      }
    }
  });
}

if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(
    `\n${problems.length} path(s) reach outside the repository. Keep what the code needs inside it ` +
      "(fixtures with a README naming their public source) and refer to it by a path within the repository.",
  );
  process.exit(1);
}
console.log(`repository paths: ${files.length} tracked files, none reaches outside the repository`);
