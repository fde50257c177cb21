import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { type EngineProfile, PROFILE_STAGES } from "../../../../packages/engine-native/src/index.js";
import { GrailError } from "../../../../packages/protocol/src/index.js";
import { parseComputeApps } from "../gpu-memory.js";
import type { NativeResult } from "../native-run.js";
import { type ScalingResult, WINDOW_SECONDS } from "../pool-scaling.js";
import { breakdown, computedLayout, type ModelDims, stageWork } from "../stage-work.js";
import { readWorkload, WorkloadError } from "../workload.js";

const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = resolve(benchDir, "../../..");
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
const hasPython = spawnSync("python3", ["--version"]).status === 0;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "proof-bench-"));
  dirs.push(d);
  return d;
}

function py(args: string[]) {
  return spawnSync("python3", args, { cwd: repoRoot, env, encoding: "utf8" });
}

const QWEN7B: ModelDims = {
  hidden: 3584,
  intermediate: 18944,
  layers: 28,
  heads: 28,
  kvHeads: 4,
  headDim: 128,
  vocab: 152064,
  tied: false,
};

const batch = [
  { tokens: Array.from({ length: 700 }, (_, i) => i), promptLen: 200 },
  { tokens: Array.from({ length: 333 }, (_, i) => i), promptLen: 200 },
];

describe.skipIf(!hasPython)("the benchmark's Python side", () => {
  it("passes its unit tests (workload, FLOPs, arguments, report)", () => {
    const r = py(["-m", "unittest", "discover", "-s", join(benchDir, "test"), "-p", "test_*.py"]);
    expect(r.stderr).toMatch(/^OK( \(skipped=\d+\))?\s*$/m);
    expect(r.status).toBe(0);
  });

  it("counts the same FLOPs per batch as the per-stage rates do", () => {
    const code = [
      "import sys, json",
      `sys.path.insert(0, ${JSON.stringify(benchDir)})`,
      "import benchlib",
      `d = benchlib.model_dims(dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
          num_attention_heads=28, num_key_value_heads=4, vocab_size=152064))`,
      "print(benchlib.rollout_flops(d, 700, 200) + benchlib.rollout_flops(d, 333, 200))",
    ].join("\n");
    const r = py(["-c", code]);
    expect(r.status).toBe(0);
    const work = stageWork(QWEN7B, batch, { sharedPrompts: false });
    const counted = Object.values(work).reduce((a, w) => a + w.flops, 0);
    expect(counted).toBe(Number(r.stdout.trim()));
  });
});

describe("per-stage rates", () => {
  it("counts a prompt shared by rollouts once, as the engine computes it", () => {
    // Both rollouts start with tokens 0..199: one prompt computed once, then 500 and 133 completion rows.
    expect(computedLayout(batch)).toEqual({
      rows: 200 + 500 + 133,
      pairs: (200 * 201) / 2 + (700 * 701 - 200 * 201) / 2 + (333 * 334 - 200 * 201) / 2,
      completionRows: 633,
    });
    expect(computedLayout(batch, false)).toEqual({
      rows: 1033,
      pairs: (700 * 701) / 2 + (333 * 334) / 2,
      completionRows: 633,
    });
    const shared = stageWork(QWEN7B, batch);
    const whole = stageWork(QWEN7B, batch, { sharedPrompts: false });
    expect(shared.gemm_down.flops / whole.gemm_down.flops).toBeCloseTo(833 / 1033, 12);
    expect(shared.gemm_lm_head.flops).toBe(whole.gemm_lm_head.flops);
    // A different prompt is not shared.
    const other = [batch[0]!, { tokens: batch[1]!.tokens.map((t) => t + 1), promptLen: 200 }];
    expect(computedLayout(other).rows).toBe(1033);
  });

  it("turns a profile into rates, largest stage first, with the span no stage covers", () => {
    const stages = PROFILE_STAGES.map((name) => ({ name, ms: name === "gemm_gate_up" ? 40 : 1, calls: 28 }));
    const profile: EngineProfile = {
      tokens: 1033,
      sequences: 2,
      logitRows: 633,
      maxLen: 700,
      wallMs: 70,
      gpuMs: 60,
      unattributedMs: 5,
      stages,
      memory: { deviceUsedBytes: 1, deviceTotalBytes: 2, engineBytes: 1, weightBytes: 1 },
    };
    const rows = breakdown(profile, QWEN7B, batch);
    expect(rows[0]!.name).toBe("gemm_gate_up");
    expect(rows[0]!.percent).toBeCloseTo((100 * 40) / 60, 9);
    // 2·T·H·2I·L over 40 ms, T = the 833 rows computed (the two rollouts share their prompt)
    expect(rows[0]!.tflops).toBeCloseTo((2 * 833 * 3584 * 2 * 18944 * 28) / 0.04 / 1e12, 6);
    const gap = rows.find((r) => r.name === "unattributed")!;
    expect(gap.ms).toBe(5);
    expect(gap.tflops).toBeNull();
    const norm = rows.find((r) => r.name === "rmsnorm")!;
    expect(norm.tflops).toBeNull();
    expect(norm.gbps).toBeCloseTo((4 * 833 * 3584) / 0.001 / 1e9, 6);
    expect(stageWork(QWEN7B, batch).gemm_lm_head.flops).toBe(2 * 633 * 3584 * 152064);
  });

  it("reads a worker's device memory from nvidia-smi's CSV", () => {
    const m = parseComputeApps("1234, 20480\n99, 512\n\ngarbage\n1234, 1024\n");
    expect(m.get(1234)).toBe(21504 * 2 ** 20);
    expect(m.get(99)).toBe(512 * 2 ** 20);
    expect(m.size).toBe(2);
  });
});

describe("workload files", () => {
  const good = {
    randomness: "ab12",
    groupSize: 16,
    model: { ...QWEN7B },
    cases: [{ name: "standard", rollouts: 2, tokens: 1033, flops: 1, groups: [batch] }],
  };
  const write = (doc: unknown) => {
    const p = join(tempDir(), "w.json");
    writeFileSync(p, JSON.stringify(doc));
    return p;
  };

  it("accepts what the Python side writes and refuses what the engine could not prove", () => {
    expect(readWorkload(write(good)).cases[0]!.groups[0]).toHaveLength(2);
    const bad: [unknown, RegExp][] = [
      [{ ...good, randomness: "xyz" }, /randomness/],
      [{ ...good, model: { ...QWEN7B, layers: 0 } }, /model dimensions/],
      [{ ...good, cases: [] }, /no cases/],
      [{ ...good, cases: [{ ...good.cases[0], tokens: 1000 }] }, /disagree/],
      [
        { ...good, cases: [{ ...good.cases[0], groups: [[{ tokens: [1, 2], promptLen: 2 }]] }] },
        /completion/,
      ],
    ];
    for (const [doc, re] of bad) {
      expect(() => readWorkload(write(doc))).toThrow(WorkloadError);
      expect(() => readWorkload(write(doc))).toThrow(re);
    }
    const notJson = join(tempDir(), "n.json");
    writeFileSync(notJson, "{");
    expect(() => readWorkload(notJson)).toThrow(/cannot be read as JSON/);
  });

  it("refuses with a GrailError whose context names the file and the problem", () => {
    const path = write({ ...good, cases: [] });
    const err = (() => {
      try {
        readWorkload(path);
      } catch (e) {
        return e;
      }
      throw new Error("the workload was accepted");
    })();
    expect(err).toBeInstanceOf(GrailError);
    expect(err).toMatchObject({ name: "WorkloadError", code: "WorkloadError" });
    expect((err as GrailError).context).toEqual({ path, problem: "there are no cases" });
  });
});

const workerBuilt = existsSync(join(repoRoot, "packages/proof-worker/dist/main.js"));
const tsx = join(repoRoot, "node_modules/.bin/tsx");

describe.skipIf(!hasPython)("bench.ts native --tiny on the CPU backend", () => {
  it("proves the workload through the pool, profiles a batch per case and writes the report", () => {
    expect(workerBuilt, "build the worker first: pnpm turbo run build --filter @grail/proof-worker").toBe(
      true,
    );
    const out = tempDir();
    const r = spawnSync(
      tsx,
      [
        "--conditions=source",
        join(benchDir, "bench.ts"),
        "native",
        "--backend",
        "cpu",
        "--tiny",
        "--out-dir",
        out,
      ],
      { cwd: repoRoot, env, encoding: "utf8", timeout: 120_000 },
    );
    expect(r.stderr).not.toMatch(/^bench:/m);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/native tiny-qwen2 standard: [\d.]+ rollouts\/s/);
    const result = JSON.parse(readFileSync(join(out, "native-tiny-qwen2.json"), "utf8")) as NativeResult;
    const workload = readWorkload(join(out, "workload.json"));
    expect(result.cases.map((c) => [c.name, c.rollouts, c.tokens])).toEqual(
      workload.cases.map((c) => [c.name, c.rollouts, c.tokens]),
    );
    for (const c of result.cases) {
      expect(c.seconds).toBeGreaterThan(0);
      expect(c.engineSeconds).toBeGreaterThan(0);
      expect(c.peakMemoryBytes).toBeNull(); // no GPU here
    }
    // The CPU backend has no profiler; the checks still ran on its proofs.
    expect(result.profiles).toEqual({ standard: null, long: null });
    expect(result.checks.standard).toEqual({
      profilerUnchanged: true,
      sharingUnchanged: true,
      poolMatchesDirect: true,
      vsHf: null,
    });
    expect(result.env.backend).toBe("cpu");
    expect(result.direct.map((d) => [d.rolloutsPerCall, d.sharedPrompts, d.rollouts])).toEqual([
      [16, true, 48],
      [64, true, 48],
      [16, false, 48],
    ]);
    // The CPU backend's results do not depend on how many rollouts share a call.
    for (const d of result.direct) expect(d.vsSixteen?.identicalFraction).toBe(1);
    const md = readFileSync(join(out, "bench.md"), "utf8");
    expect(md).toMatch(/\| tiny-qwen2 \| standard \| 48 \| \d+ \| — \| — \| — \| [\d,.]+ \|/);
    expect(md).toContain("| tiny-qwen2 | long | yes | yes | yes | — | — | — |");
    expect(JSON.parse(readFileSync(join(out, "bench.json"), "utf8")).rows).toHaveLength(2);

    // The pool with 1 and 2 workers on the same model and workload.
    const scaling = spawnSync(
      tsx,
      [
        "--conditions=source",
        join(benchDir, "bench.ts"),
        "scaling",
        "--backend",
        "cpu",
        "--model",
        join(out, "tiny-model"),
        "--workload",
        join(out, "workload.json"),
        "--out",
        join(out, "scaling.json"),
        "--workers",
        "1,2",
        "--repeat",
        "2",
        "--shape",
        "tiny-qwen2",
      ],
      { cwd: repoRoot, env, encoding: "utf8", timeout: 120_000 },
    );
    expect(scaling.stderr).not.toMatch(/^bench:/m);
    expect(scaling.status).toBe(0);
    const sr = JSON.parse(readFileSync(join(out, "scaling.json"), "utf8")) as ScalingResult;
    const standard = workload.cases.find((c) => c.name === "standard")!;
    expect(sr.rows.map((x) => [x.workers, x.rollouts, x.tokens])).toEqual([
      [1, 2 * standard.rollouts, 2 * standard.tokens],
      [2, 2 * standard.rollouts, 2 * standard.tokens],
    ]);
    expect(sr.rows[0]!.scaling).toBe(1);
    expect(sr.rows[1]!.scaling).toBeCloseTo(sr.rows[1]!.rolloutsPerSecond / sr.rows[0]!.rolloutsPerSecond, 9);
    for (const x of sr.rows) {
      expect(x.windowCeiling).toBeCloseTo(x.rolloutsPerSecond * WINDOW_SECONDS, 6);
      expect(x.coordinatorCores).toBeGreaterThan(0);
    }
    expect(scaling.stdout).toContain("| workers (one per GPU) | rollouts | rollouts/s |");
  });

  it("says what is missing", () => {
    const r = spawnSync(tsx, ["--conditions=source", join(benchDir, "bench.ts"), "native", "--model", "x"], {
      cwd: repoRoot,
      env,
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("usage: bench native --model DIR --workload FILE --out FILE");
    const bad = spawnSync(
      tsx,
      [
        "--conditions=source",
        join(benchDir, "bench.ts"),
        "scaling",
        "--model",
        "m",
        "--workload",
        "w",
        "--out",
        "o",
        "--workers",
        "0",
      ],
      { cwd: repoRoot, env, encoding: "utf8" },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--workers takes worker counts, each at least 1");
  });
});
