// The co-location benchmark's result as markdown (printed last by device-colocation.sh, kept in $OUT).
import type { ColocationResult } from "./colocation.js";

const GiB = 2 ** 30;
const gib = (b: number | null) => (b === null ? "—" : (b / GiB).toFixed(2));
const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
const fixed = (v: number | null, digits: number) => (v === null ? "—" : v.toFixed(digits));

export function colocationMarkdown(r: ColocationResult): string {
  const m = r.memory;
  const b = m.batch;
  const overIdle = (v: number | null) => diff(v, m.idleDeviceBytes);
  const peak = overIdle(m.peakDeviceBytes);
  const lines = [
    `## Proof worker memory: ${r.shape}, one group of ${b.rollouts} × ${b.tokensPerRollout} tokens ` +
      `(prompt ${b.promptTokens} computed once: ${b.rowsComputed} rows, ${b.logitRows} through lm_head), ${r.backend}`,
    "",
    "| figure | GiB | bytes | source |",
    "| --- | --- | --- | --- |",
    `| reported need: weights | ${gib(m.need.weightsBytes)} | ${m.need.weightsBytes} | proofMemoryNeed |`,
    `| reported need: activations | ${gib(m.need.activationBytes)} | ${m.need.activationBytes} | proofMemoryNeed |`,
    `| reported need: cuBLASLt workspace | ${gib(m.need.workspaceBytes)} | ${m.need.workspaceBytes} | proofMemoryNeed |`,
    `| **reported need: total** | ${gib(m.need.totalBytes)} | ${m.need.totalBytes} | proofMemoryNeed (computed, no GPU) |`,
    `| the engine's own buffers after the call | ${gib(m.engineBytes)} | ${m.engineBytes ?? "—"} | measured: profile engineBytes |`,
    `| device in use at the end of the call, over the idle device | ${gib(overIdle(m.cudaUsedBytes))} | ` +
      `${overIdle(m.cudaUsedBytes) ?? "—"} | measured: cudaMemGetInfo (profile) − nvidia-smi before the load |`,
    `| peak device memory while loading and proving, over the idle device | ${gib(peak)} | ${peak ?? "—"} | ` +
      "measured: nvidia-smi --query-gpu=memory.used every 100 ms |",
    `| peak of this process | ${gib(m.peakProcessBytes)} | ${m.peakProcessBytes ?? "—"} | ` +
      "measured: nvidia-smi --query-compute-apps (— where the container hides processes) |",
    "",
    m.engineBytes === null
      ? "No profile (CPU backend): the engine's own accounting and cudaMemGetInfo are GPU-only."
      : `The engine's buffers ${m.engineBytes === m.need.totalBytes ? "equal" : "DIFFER FROM"} the reported need` +
        (m.engineBytes === m.need.totalBytes ? "." : ` by ${m.engineBytes - m.need.totalBytes} bytes.`),
    peak === null
      ? "No nvidia-smi reading: the peak is not measured here."
      : `Measured peak − reported need: ${gib(peak - m.need.totalBytes)} GiB (the CUDA context, cuBLASLt's ` +
        "kernels, allocator rounding). The batch proved in " +
        `${m.proveSeconds.toFixed(2)} s.`,
  ];
  const c = r.contention;
  const rate = (x: { rollouts: number; seconds: number }) => (x.rollouts / x.seconds).toFixed(1);
  const tflops = (f: number | null) => (f === null ? "—" : (f / 1e12).toFixed(1));
  lines.push(
    "",
    `## Proofs beside a GEMM load on the same device: ${r.shape}, ${r.backend}`,
    "",
    "| run (measured) | rollouts | seconds | rollouts/s | GEMM load TFLOP/s |",
    "| --- | --- | --- | --- | --- |",
    `| proofs alone (the engine in this process, one group a call) | ${c.proofsAlone.rollouts} | ` +
      `${c.proofsAlone.seconds.toFixed(2)} | ${rate(c.proofsAlone)} | — |`,
    `| GEMM load alone (gemm_load.py in another process) | — | — | — | ${tflops(c.gemmAloneFlops)} |`,
    `| proofs beside the GEMM load | ${c.proofsBesideGemms.rollouts} | ${c.proofsBesideGemms.seconds.toFixed(2)} | ` +
      `${rate(c.proofsBesideGemms)} | ${tflops(c.gemmBesideProofsFlops)} |`,
    "",
    `Contention factor (proof rollouts/s alone ÷ beside the GEMMs): **${c.contentionFactor.toFixed(2)}**.`,
    `GEMM GPU-seconds lost per GPU-second the proofs take alone: **${fixed(c.gemmLossPerProofSecond, 2)}** ` +
      "(the layout model takes it equal to the contention factor).",
    `Layout advisor: \`pnpm bench:layout --search --contention ${c.contentionFactor.toFixed(2)}\`.`,
  );
  return `${lines.join("\n")}\n`;
}
