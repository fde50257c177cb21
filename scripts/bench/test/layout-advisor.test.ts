import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { proofMemoryNeed } from "../../../packages/engine-native/src/index.js";
import { referenceA100Rates, searchLayouts, summariseBox } from "../../../packages/pipeline/src/index.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const advisor = join(repoRoot, "scripts/bench/layout-advisor.mjs");
const built =
  existsSync(join(repoRoot, "packages/pipeline/dist/mining/layout-search.js")) &&
  existsSync(join(repoRoot, "packages/engine-native/dist/memory.js"));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function run(...args: string[]) {
  return spawnSync(process.execPath, [advisor, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 120_000,
  });
}

describe("layout advisor --search", () => {
  it("prints per box the best predicted layout and the fewest GPUs at the cap, with every rate's source", () => {
    expect(built, "build first: pnpm turbo run build --filter=@grail/pipeline...").toBe(true);
    const r = run("--search", "--boxes", "2,8", "--gpb", "72,128,256", "--contention", "1.5");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = r.stdout;
    expect(out).toContain(
      "Predictions of packages/pipeline layout-sim from the rates below, not measurements.",
    );
    expect(out).toMatch(/- generation: guide: SGLang on 8×A100 SXM4, Qwen2\.5-7B/);
    expect(out).toMatch(
      /- proofs: 96\.4 rollouts\/s per GPU; measured: the native engine through the proof pool/,
    );
    expect(out).toContain("- co-located proofs: contention factor 1.5; given (--contention)");
    expect(out).toContain("## Contention factor 1.5 (given); cap 5,000");
    // The table's rows are the search's own answers.
    const rates = {
      ...referenceA100Rates(),
      proofRolloutsPerSecondPerGpu: 96.4,
      colocatedProofContention: 1.5,
    };
    const ranked = searchLayouts(8, rates, { groupsPerBatch: [72, 128, 256] });
    for (const gpus of [2, 8]) {
      const box = summariseBox(gpus, ranked);
      const best = box.best!.prediction.rollouts;
      const row = out.split("\n").find((l) => l.startsWith(`| ${gpus} | `))!;
      expect(row).toContain(
        ` | ${best.toLocaleString("en-US")} | ${Math.min(best, 5000).toLocaleString("en-US")} | `,
      );
      if (box.smallestAtCap) {
        expect(row).toContain(
          `(${box.smallestAtCap.gpus} GPUs) | ${box.smallestAtCap.prediction.rollouts.toLocaleString("en-US")} |`,
        );
      } else {
        expect(row).toContain(`none within ${gpus} GPUs`);
      }
    }
    // The memory a co-located proof worker needs, from the engine's own report.
    const need = proofMemoryNeed(
      {
        model_type: "qwen2",
        vocab_size: 152064,
        hidden_size: 3584,
        intermediate_size: 18944,
        num_hidden_layers: 28,
        num_attention_heads: 28,
        num_key_value_heads: 4,
      },
      { tokensPerRollout: 12288 },
    );
    expect(out).toContain(`**${(need.totalBytes / 2 ** 30).toFixed(2)} GiB**`);
  });

  it("labels contention factors it was not given as assumed, and rates from a file as given", () => {
    const dir = mkdtempSync(join(tmpdir(), "advisor-"));
    dirs.push(dir);
    const file = join(dir, "rates.json");
    writeFileSync(file, JSON.stringify({ proofRolloutsPerSecondPerGpu: 50 }));
    const r = run("--search", "--boxes", "2", "--gpb", "72", "--rates", file);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`- proofs: 50 rollouts/s per GPU; given: ${file}`);
    expect(r.stdout).toContain("## Contention factor 1 (assumed, not measured)");
    expect(r.stdout).toContain("## Contention factor 2 (assumed, not measured)");
  });

  it("refuses what it cannot use, saying what is allowed", () => {
    const bad = run("--search", "--contention", "0.5");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--contention takes comma-separated numbers of at least 1, got "0.5"');
    const dir = mkdtempSync(join(tmpdir(), "advisor-"));
    dirs.push(dir);
    writeFileSync(join(dir, "r.json"), "[1]");
    const arr = run("--search", "--rates", join(dir, "r.json"));
    expect(arr.status).toBe(2);
    expect(arr.stderr).toContain("must hold a JSON object of StageRates fields");
  });
});
