import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";

/**
 * hadolint is not installable here (not in Debian's archive, not on npm), so the Dockerfile is
 * checked by dockerfile-utils' validator (the Docker language server's) plus the hadolint rules
 * that matter for this image, written out below.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dockerfile = readFileSync(path.join(repoRoot, "docker/Dockerfile"), "utf8");
const ignore = readFileSync(path.join(repoRoot, "docker/Dockerfile.dockerignore"), "utf8").split("\n");

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  const joined = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      const space = line.search(/\s/);
      return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() };
    });
}
const all = instructions(dockerfile);
const runs = all.filter((i) => i.keyword === "RUN").map((i) => i.args);
const args = new Map(
  all
    .filter((i) => i.keyword === "ARG" && i.args.includes("="))
    .map((i) => {
      const [name, ...value] = i.args.split("=");
      return [name as string, value.join("=").replace(/^"|"$/g, "")];
    }),
);

describe("docker/Dockerfile", () => {
  it("has no problem dockerfile-utils reports", () => {
    const diagnostics = validate(dockerfile);
    expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it("builds FROM pinned tags only (hadolint DL3006/DL3007)", () => {
    const stages = new Set<string>();
    for (const from of all.filter((i) => i.keyword === "FROM").map((i) => i.args)) {
      const [image, as, stage] = from.split(/\s+/);
      const resolved = (image as string).replace(/^\$\{(\w+)\}$/, (_m, name: string) => args.get(name) ?? "");
      if (!stages.has(resolved)) {
        expect(resolved, from).toMatch(/^[\w./-]+:[\w.-]+$/);
        expect(resolved).not.toMatch(/:latest$/);
      }
      if (as?.toUpperCase() === "AS") stages.add(stage as string);
    }
    expect(args.get("CUDA_IMAGE")).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-devel-ubuntu/);
    expect(args.get("NODE_IMAGE")).toMatch(/^node:20\./);
  });

  it("pins SGLang and the validators' transformers / tokenizers / torch, and checks them", () => {
    expect(args.get("SGLANG_VERSION")).toBe("0.5.10");
    expect(args.get("TRANSFORMERS_VERSION")).toBe("4.57.1");
    expect(args.get("TOKENIZERS_VERSION")).toBe("0.22.1");
    expect(args.get("TORCH_VERSION")).toBe("2.9.1");
    const pip = runs.filter((r) => /\bpip install\b/.test(r)).join(" ");
    /** A shell reference to a build argument, as the Dockerfile writes it. */
    const ref = (name: string) => `\${${name}}`;
    expect(pip).toContain(`"sglang[all]==${ref("SGLANG_VERSION")}"`);
    for (const pkg of ["transformers", "tokenizers", "torch"]) {
      expect(pip).toContain(`"${pkg}==${ref(`${pkg.toUpperCase()}_VERSION`)}"`);
    }
    for (const install of pip.split("pip install").slice(1)) expect(install).toMatch(/^\s+--no-cache-dir/);
    expect(pip).toContain("check_python_pins.py");
    expect(existsSync(path.join(repoRoot, "scripts/ops/check_python_pins.py"))).toBe(true);
  });

  it("checks the SGLang launch path and the CUDA proof engine at build time", () => {
    expect(runs.some((r) => r.includes("node scripts/ops/check-sglang-launch.mjs"))).toBe(true);
    expect(existsSync(path.join(repoRoot, "scripts/ops/check-sglang-launch.mjs"))).toBe(true);
    expect(dockerfile).toMatch(/GRAIL_ENGINE_CUDA=1/);
    expect(dockerfile).toMatch(/GRAIL_ENGINE_PORTABLE=1/);
    expect(runs.some((r) => r.includes("engine-build.json") && r.includes("process.exit(1)"))).toBe(true);
  });

  it("installs system packages without recommends and cleans the lists (DL3015/DL3009), pnpm pinned (DL3016)", () => {
    for (const run of runs.filter((r) => r.includes("apt-get install"))) {
      expect(run).toContain("--no-install-recommends");
      expect(run).toContain("rm -rf /var/lib/apt/lists/*");
    }
    expect(runs.some((r) => /npm install --global .*"pnpm@\$\{PNPM_VERSION\}"/.test(r))).toBe(true);
    expect(args.get("PNPM_VERSION")).toBe(
      JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")).packageManager.split("@")[1],
    );
  });

  it("runs as a non-root user with volumes, the health check and the miner entry point", () => {
    const users = all.filter((i) => i.keyword === "USER").map((i) => i.args);
    expect(users.at(-1)).toBe("grail");
    const last = (kw: string) => all.findLastIndex((i) => i.keyword === kw);
    expect(last("USER")).toBeLessThan(last("ENTRYPOINT"));
    expect(all.find((i) => i.keyword === "HEALTHCHECK")?.args).toContain("/app/scripts/ops/healthcheck.mjs");
    expect(all.find((i) => i.keyword === "ENTRYPOINT")?.args).toBe(
      '["tini", "--", "node", "/app/apps/miner/dist/main.js"]',
    );
    expect(existsSync(path.join(repoRoot, "apps/miner/src/main.ts"))).toBe(true);
  });

  it("copies only sources that exist and never a .env", () => {
    for (const copy of all.filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith("--"));
      for (const source of parts.slice(0, -1)) {
        if (source !== ".") expect(existsSync(path.join(repoRoot, source)), source).toBe(true);
      }
    }
    expect(ignore).toContain(".env");
    expect(ignore).toContain("**/.env");
    expect(ignore).toContain("**/node_modules");
  });
});
