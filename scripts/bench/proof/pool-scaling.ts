// How the proof side scales with GPUs (issue multigpu): the proof pool with 1, 2, … workers, one per
// GPU (each pinned with CUDA_VISIBLE_DEVICES, as the miner runs them), proving the same recorded groups
// at the maximum rate the coordinator can feed them. Per worker count: rollouts/s, the ratio against
// one worker, the coordinator's own CPU use at that rate (dispatch, IPC, binding checks and signing run
// on its thread), and the proof side's ceiling per window.
import { performance } from "node:perf_hooks";
import { createLogger } from "../../../packages/log/src/index.js";
import type { ProofGroup } from "../../../packages/pipeline/src/pool/index.js";
import type { WorkerEntryPoints } from "../../../packages/proof-worker/src/entry-points.js";
import { startBenchPool, tokensOf } from "./native-run.js";
import type { Workload } from "./workload.js";

/** Seconds of one window: 30 blocks of 12 s. */
export const WINDOW_SECONDS = 360;

export interface ScalingRow {
  workers: number;
  rollouts: number;
  tokens: number;
  seconds: number;
  rolloutsPerSecond: number;
  tokensPerSecond: number;
  /** rollouts/s against the one-worker row (null without one). */
  scaling: number | null;
  /** Coordinator CPU time over wall time while the groups were proved: cores in use. */
  coordinatorCores: number;
  /** rollouts/s × WINDOW_SECONDS: what the proof side could take in a window if fed all of it. */
  windowCeiling: number;
  warmupSeconds: number;
}

export interface ScalingResult {
  kind: "scaling";
  shape: string;
  case: string;
  repeat: number;
  rows: ScalingRow[];
}

export interface ScalingOptions {
  shape: string;
  modelDir: string;
  workload: Workload;
  caseName: string;
  backend: "cuda" | "cpu";
  entryPoints: WorkerEntryPoints;
  /** Worker counts to run; count k uses GPUs 0..k-1. */
  workerCounts: number[];
  /** How many times the case's groups are proved in one timed run (long enough to measure). */
  repeat: number;
  log: (line: string) => void;
}

export async function runScaling(o: ScalingOptions): Promise<ScalingResult> {
  const c = o.workload.cases.find((x) => x.name === o.caseName);
  if (!c) {
    throw new Error(
      `the workload has no case "${o.caseName}" (it has ${o.workload.cases.map((x) => x.name).join(", ")})`,
    );
  }
  const ctx = { randomnessHex: o.workload.randomness, modelName: "proof-bench", checkpointWindow: 0 };
  const groups: ProofGroup[] = [];
  for (let r = 0; r < o.repeat; r++) {
    for (const [i, rollouts] of c.groups.entries()) groups.push({ groupId: `${c.name}-${r}-${i}`, rollouts });
  }
  const rollouts = groups.reduce((a, g) => a + g.rollouts.length, 0);
  const tokens = groups.reduce((a, g) => a + tokensOf(g.rollouts), 0);
  const logger = createLogger({ verbosity: 0, stream: process.stderr });
  const rows: ScalingRow[] = [];
  try {
    for (const k of o.workerCounts) {
      const pool = await startBenchPool({
        gpus: Array.from({ length: k }, (_, i) => i),
        modelDir: o.modelDir,
        backend: o.backend,
        entryPoints: o.entryPoints,
        logger,
      });
      try {
        const settle = async (gs: ProofGroup[]) => {
          for (const r of await pool.proveGroups(gs, ctx)) if (r.status === "rejected") throw r.reason;
        };
        // Warm-up: every worker proves the largest group once (cuBLASLt plans, buffers at full size).
        const largest = [...c.groups].sort((a, b) => tokensOf(b) - tokensOf(a))[0]!;
        const w0 = performance.now();
        await settle(Array.from({ length: k }, (_, i) => ({ groupId: `warm-${i}`, rollouts: largest })));
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await settle(groups);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const rate = rollouts / seconds;
        const one = rows.find((r) => r.workers === 1);
        rows.push({
          workers: k,
          rollouts,
          tokens,
          seconds,
          rolloutsPerSecond: rate,
          tokensPerSecond: tokens / seconds,
          scaling: one ? rate / one.rolloutsPerSecond : k === 1 ? 1 : null,
          coordinatorCores: (cpu.user + cpu.system) / 1e6 / seconds,
          windowCeiling: rate * WINDOW_SECONDS,
          warmupSeconds: (t0 - w0) / 1000,
        });
        o.log(
          `scaling ${o.shape} ${c.name}: ${k} worker(s) ${rate.toFixed(1)} rollouts/s ` +
            `(${seconds.toFixed(2)} s for ${rollouts}), coordinator ${rows.at(-1)!.coordinatorCores.toFixed(2)} cores`,
        );
      } finally {
        await pool.shutdown();
      }
    }
  } finally {
    await logger.close();
  }
  return { kind: "scaling", shape: o.shape, case: c.name, repeat: o.repeat, rows };
}

/** The result as a markdown table. */
export function scalingMarkdown(r: ScalingResult): string {
  const lines = [
    `Proof pool scaling, ${r.shape}, ${r.case} case (each group proved ${r.repeat}× in one timed run):`,
    "",
    "| workers (one per GPU) | rollouts | rollouts/s | tokens/s | vs one worker | coordinator CPU (cores) | proof ceiling per window |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const x of r.rows) {
    lines.push(
      `| ${x.workers} | ${x.rollouts} | ${x.rolloutsPerSecond.toFixed(1)} | ${Math.round(x.tokensPerSecond).toLocaleString("en-US")} | ` +
        `${x.scaling === null ? "—" : `${x.scaling.toFixed(2)}×`} | ${x.coordinatorCores.toFixed(2)} | ` +
        `${Math.round(x.windowCeiling).toLocaleString("en-US")} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}
