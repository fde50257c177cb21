import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { proofMemoryNeed } from "../../../../packages/engine-native/src/index.js";
import {
  type ColocationResult,
  contentionFigures,
  gemmRate,
  memoryBatch,
  parseGemmLine,
} from "../colocation.js";
import { colocationMarkdown } from "../colocation-report.js";
import { parseMemoryUsed, visibleGpuIndex } from "../gpu-memory.js";

const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = resolve(benchDir, "../../..");
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
const hasNumpy = spawnSync("python3", ["-c", "import numpy"]).status === 0;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("co-location figures", () => {
  it("reads gemm_load.py's chunks and takes the rate of those inside a span", () => {
    expect(parseGemmLine("gemm 100.5 0.1 1.1e14")).toEqual({ end: 100.5, seconds: 0.1, flops: 1.1e14 });
    for (const bad of ["ready", "gemm 1 0 5", "gemm x 0.1 5", "gemm 1 0.1", ""]) {
      expect(parseGemmLine(bad)).toBeNull();
    }
    const chunks = [
      { end: 10.1, seconds: 0.1, flops: 70e12 }, // before
      { end: 10.2, seconds: 0.1, flops: 70e12 },
      { end: 10.4, seconds: 0.2, flops: 70e12 },
      { end: 10.55, seconds: 0.1, flops: 30e12 }, // ends after the span
    ];
    expect(gemmRate(chunks, 10.1, 10.5)).toBeCloseTo(140e12 / 0.3, 0);
    expect(gemmRate(chunks, 11, 12)).toBeNull();
  });

  it("turns the runs into the contention factor and the GEMM time lost per proof GPU-second", () => {
    // Proofs twice as slow beside the GEMMs, which ran at half speed meanwhile: time-slicing.
    const f = contentionFigures(
      { rollouts: 768, seconds: 8 },
      { rollouts: 768, seconds: 16 },
      700e12,
      350e12,
    );
    expect(f.contentionFactor).toBe(2);
    expect(f.gemmLossPerProofSecond).toBe(1); // 8 GEMM-seconds lost for 8 proof-seconds
    // Generation stalled the whole time the proofs ran: the layout model's assumption.
    expect(
      contentionFigures({ rollouts: 100, seconds: 1 }, { rollouts: 50, seconds: 1 }, 7e14, 0)
        .gemmLossPerProofSecond,
    ).toBe(2);
    expect(
      contentionFigures({ rollouts: 1, seconds: 1 }, { rollouts: 1, seconds: 2 }, null, 3e14),
    ).toMatchObject({
      contentionFactor: 2,
      gemmLossPerProofSecond: null,
    });
  });

  it("reads a GPU's memory in use and picks the GPU the process sees first", () => {
    expect(parseMemoryUsed("20480\n")).toBe(20480 * 2 ** 20);
    expect(parseMemoryUsed("")).toBeNull();
    expect(parseMemoryUsed("[N/A]")).toBeNull();
    expect(visibleGpuIndex({ CUDA_VISIBLE_DEVICES: "3,5" })).toBe("3");
    expect(visibleGpuIndex({ CUDA_VISIBLE_DEVICES: "GPU-8f2e" })).toBe("0");
    expect(visibleGpuIndex({})).toBe("0");
  });

  it("builds one group with a shared prompt, the batch the memory need is for", () => {
    const batch = memoryBatch(500, 64, 10);
    expect(batch).toHaveLength(16);
    for (const r of batch) {
      expect(r.tokens).toHaveLength(64);
      expect(r.promptLen).toBe(10);
      expect(r.tokens.slice(0, 10)).toEqual(batch[0]!.tokens.slice(0, 10));
      expect(Math.max(...r.tokens)).toBeLessThan(500);
    }
    expect(batch[1]!.tokens.slice(10)).not.toEqual(batch[0]!.tokens.slice(10));
  });

  it("reports measured figures next to the reported need, and says when they differ", () => {
    const need = { weightsBytes: 10 * 2 ** 30, activationBytes: 2 * 2 ** 30, workspaceBytes: 2 ** 26 };
    const total = need.weightsBytes + need.activationBytes + need.workspaceBytes;
    const result: ColocationResult = {
      kind: "colocation",
      shape: "Qwen2.5-7B",
      backend: "cuda",
      memory: {
        batch: {
          rollouts: 16,
          tokens: 65_536,
          rowsComputed: 65_521,
          logitRows: 65_520,
          sharedPrompts: true,
          tokensPerRollout: 4096,
          promptTokens: 1,
        },
        need: { ...need, totalBytes: total },
        engineBytes: total,
        cudaUsedBytes: total + 2 ** 29 + 2 ** 20,
        idleDeviceBytes: 2 ** 20,
        peakDeviceBytes: total + 2 ** 29 + 2 ** 20,
        peakProcessBytes: null,
        proveSeconds: 1.5,
      },
      contention: contentionFigures(
        { rollouts: 768, seconds: 8 },
        { rollouts: 768, seconds: 12 },
        7e14,
        4e14,
      ),
    };
    const md = colocationMarkdown(result);
    expect(md).toContain(`| **reported need: total** | 12.06 | ${total} |`);
    expect(md).toContain("The engine's buffers equal the reported need.");
    expect(md).toContain("Measured peak − reported need: 0.50 GiB");
    expect(md).toContain("| proofs beside the GEMM load | 768 | 12.00 | 64.0 | 400.0 |");
    expect(md).toContain("**1.50**");
    const off = colocationMarkdown({ ...result, memory: { ...result.memory, engineBytes: total + 512 } });
    expect(off).toContain("DIFFER FROM the reported need by 512 bytes");
  });
});

describe.skipIf(!hasNumpy)("bench.ts colocation --tiny on the CPU backend", () => {
  it("measures the memory batch and proofs beside numpy GEMMs end to end, and reports them", () => {
    const out = mkdtempSync(join(tmpdir(), "colocation-"));
    dirs.push(out);
    const r = spawnSync(
      join(repoRoot, "node_modules/.bin/tsx"),
      [
        "--conditions=source",
        join(benchDir, "bench.ts"),
        "colocation",
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
    const result = JSON.parse(
      readFileSync(join(out, "colocation-tiny-qwen2.json"), "utf8"),
    ) as ColocationResult;
    const need = proofMemoryNeed(join(out, "tiny-model"), { tokensPerRollout: 64 });
    expect(result.memory.need.totalBytes).toBe(need.totalBytes);
    expect(result.memory.batch).toMatchObject({ rollouts: 16, tokensPerRollout: 64, promptTokens: 1 });
    expect(result.memory.engineBytes).toBeNull(); // GPU-only figures
    expect(result.contention.proofsAlone.rollouts).toBe(48);
    expect(result.contention.proofsBesideGemms.rollouts).toBe(48);
    expect(result.contention.contentionFactor).toBeGreaterThan(0);
    expect(readFileSync(join(out, "colocation-tiny-qwen2.md"), "utf8")).toContain("Contention factor");
  });
});
