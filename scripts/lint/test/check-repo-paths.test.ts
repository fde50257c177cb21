import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../check-repo-paths.mjs");
let repo = "";
// Planted violations, built so that this file itself holds none.
const SIBLING = ["..", "shared"].join("/");
const CLIMBING = `${"../".repeat(4)}fixtures/spec.json`;

function repoWith(files: Record<string, string>): string {
  repo = mkdtempSync(path.join(tmpdir(), "repo-paths-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(repo, name)), { recursive: true });
    writeFileSync(path.join(repo, name), text);
  }
  execFileSync("git", ["init", "-q"], { cwd: repo });
  execFileSync("git", ["add", "."], { cwd: repo });
  return repo;
}

function check(cwd: string) {
  const run = spawnSync(process.execPath, [script], { cwd, encoding: "utf8" });
  return { code: run.status, out: run.stdout + run.stderr };
}

afterEach(() => {
  if (repo) rmSync(repo, { recursive: true, force: true });
});

describe("the lint step's check that no tracked file reaches outside the repository", () => {
  it("passes paths that stay inside, however deep they climb", () => {
    const run = check(
      repoWith({
        "packages/a/test/x.ts": 'const root = path.resolve(here, "../../..");\nimport "../src/y.js";',
        "docs/a.md": "See [the engine](../packages/a/README.md) and ... three dots.",
      }),
    );
    expect(run.out).toContain("none reaches outside the repository");
    expect(run.code).toBe(0);
  });

  it("fails on the sibling shared folder anywhere, naming the file and line", () => {
    const run = check(
      repoWith({ "ok.ts": "", "scripts/pack.sh": `#!/bin/sh\n\nbash ${SIBLING}/device/pack.sh\n` }),
    );
    expect(run.code).toBe(1);
    expect(run.out).toContain("scripts/pack.sh:3: names the sibling shared folder");
  });

  it("fails on a relative path that climbs above the root", () => {
    const run = check(repoWith({ "packages/a/test/x.ts": `readFileSync("${CLIMBING}")` }));
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /packages\/a\/test\/x\.ts:1: "\.\.\/\.\.\/\.\.\/\.\.\/fixtures\/spec\.json" climbs out/,
    );
  });

  it("accepts a line that says why its path is fine", () => {
    const run = check(
      repoWith({ "a/b.ts": `resolve(here, "${CLIMBING}"); // repo-paths: ok (bundled deeper)` }),
    );
    expect(run.code).toBe(0);
  });
});
