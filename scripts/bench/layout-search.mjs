// The layout advisor's --search (layout-advisor.mjs): TP × DP × proof placement within boxes of N GPUs
// (packages/pipeline layout-search), per box the best predicted window and the fewest GPUs that reach
// the cap, and the device memory a proof worker beside generation needs (@grail/engine-native
// proofMemoryNeed). Prints markdown; every window figure is a prediction and says so.
import path from "node:path";

/** config.json fields of Qwen2.5-7B (scripts/engine/model_shapes.py): the shape the proof rate was measured on. */
const QWEN25_7B = {
  model_type: "qwen2",
  vocab_size: 152064,
  hidden_size: 3584,
  intermediate_size: 18944,
  num_hidden_layers: 28,
  num_attention_heads: 28,
  num_key_value_heads: 4,
  tie_word_embeddings: false,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  eos_token_id: 151645,
};
/** GRAIL_PIPELINE_MAX_MODEL_LEN's default. */
const DEFAULT_MAX_MODEL_LEN = 12288;
const GiB = 2 ** 30;

function numbers(text, name, usage, { min, integer }) {
  const out = text.split(",").map((s) => Number(s.trim()));
  if (
    out.length === 0 ||
    out.some((v) => !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
  ) {
    usage(
      `${name} takes comma-separated ${integer ? "integers" : "numbers"} of at least ${min}, got "${text}"`,
    );
  }
  return out;
}

const count = (v) => v.toLocaleString("en-US");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function describeLayout(l) {
  const dp = l.dp ?? 1;
  const proofs = [];
  if (l.proofGpus > 0) proofs.push(plural(l.proofGpus, "proof GPU"));
  if ((l.colocatedProofs ?? 0) > 0) proofs.push(plural(l.colocatedProofs, "co-located proof worker"));
  return `TP=${l.tp}${dp > 1 ? ` × DP=${dp}` : ""} + ${proofs.join(" + ")}, GPB=${l.groupsPerBatch}`;
}

async function proofMemory(root, args, usage) {
  const maxModelLen = args["max-model-len"]
    ? numbers(args["max-model-len"], "--max-model-len", usage, { min: 2, integer: true })[0]
    : DEFAULT_MAX_MODEL_LEN;
  const gpuGib = numbers(args["gpu-memory-gib"], "--gpu-memory-gib", usage, { min: 1, integer: false })[0];
  let engine;
  try {
    engine = await import(path.join(root, "packages", "engine-native", "dist", "index.js"));
  } catch (err) {
    return `proof worker memory: not computed (${err.message}; build @grail/engine-native)`;
  }
  const model = args.model ?? QWEN25_7B;
  const need = engine.proofMemoryNeed(model, { rollouts: 16, tokensPerRollout: maxModelLen });
  const prompt = engine.defaultPromptTokens(maxModelLen);
  const g = (b) => (b / GiB).toFixed(2);
  const util = (gpuGib * GiB - need.totalBytes) / (gpuGib * GiB);
  return (
    `proof worker memory (computed by proofMemoryNeed for ${args.model ?? "the Qwen2.5-7B shape"}, its largest ` +
    `batch: one group of 16 × ${count(maxModelLen)} tokens (--max-model-len), prompt ${count(prompt)} computed once): ` +
    `**${g(need.totalBytes)} GiB** (weights ${g(need.weightsBytes)}, activations ${g(need.activationBytes)}, ` +
    `cuBLASLt workspace ${g(need.workspaceBytes)}) plus the CUDA context. Beside generation on a GPU of ${gpuGib} ` +
    `GiB that leaves the generation server at most GRAIL_PIPELINE_GPU_MEM_UTIL=${util > 0 ? util.toFixed(2) : "0 (it does not fit)"} ` +
    "(less the context); the model does not shrink the KV cache for it."
  );
}

function boxTable(pipeline, ranked, boxes) {
  const rows = [
    "| GPUs in the box | best layout | predicted rollouts/window | counted (≤ cap) | bottleneck | " +
      "fewest GPUs reaching the cap | its predicted rollouts/window | fewest reaching it with dedicated proof GPUs only | " +
      "its predicted rollouts/window | best with one server + dedicated proof GPUs | its predicted rollouts/window |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const dedicated = ranked.filter((r) => (r.layout.colocatedProofs ?? 0) === 0);
  let cap = 0;
  for (const gpus of boxes) {
    const box = pipeline.summariseBox(gpus, ranked);
    cap = box.cap;
    const atCapDedicated = pipeline.summariseBox(gpus, dedicated).smallestAtCap;
    const today = dedicated.find((r) => r.gpus <= gpus && (r.layout.dp ?? 1) === 1);
    const cell = (r) => (r ? `${describeLayout(r.layout)} (${plural(r.gpus, "GPU")})` : "—");
    const atCap = (r) => (r ? cell(r) : `none within ${gpus} GPUs`);
    const rollouts = (r) => (r ? count(r.prediction.rollouts) : "—");
    const best = box.best;
    rows.push(
      `| ${gpus} | ${cell(best)} | ${rollouts(best)} | ` +
        `${best ? count(Math.min(best.prediction.rollouts, box.cap)) : "—"} | ${best?.prediction.bottleneck ?? "—"} | ` +
        `${atCap(box.smallestAtCap)} | ${rollouts(box.smallestAtCap)} | ${atCap(atCapDedicated)} | ` +
        `${rollouts(atCapDedicated)} | ${cell(today)} | ${rollouts(today)} |`,
    );
  }
  return { rows, cap };
}

export async function runSearch({ root, pipeline, rates, sources, args, usage }) {
  const boxes = numbers(args.boxes, "--boxes", usage, { min: 1, integer: true });
  const gpbs = args.gpb ? numbers(args.gpb, "--gpb", usage, { min: 1, integer: true }) : undefined;
  let factors;
  let contentionSource;
  if (args.contention) {
    factors = numbers(args.contention, "--contention", usage, { min: 1, integer: false });
    contentionSource = "given (--contention)";
  } else if (rates.colocatedProofContention !== undefined) {
    factors = [rates.colocatedProofContention];
    contentionSource = `given: ${args.rates}`;
  } else {
    factors = [1, 2];
    contentionSource =
      "assumed, not measured (1: the proofs take exactly their own GPU-seconds from generation; 2: twice that); " +
      "measure with scripts/bench/proof/device-colocation.sh and pass --contention";
  }
  const lines = [
    "# Layout search: predicted rollouts per window",
    "",
    "Predictions of packages/pipeline layout-sim from the rates below, not measurements.",
    "",
    `- generation: ${sources.generation}`,
    `- proofs: ${rates.proofRolloutsPerSecondPerGpu} rollouts/s per GPU; ${sources.proofs}`,
    `- co-located proofs: contention factor ${factors.join(", ")}; ${contentionSource}`,
    `- coordinator, uploads, checkpoint switch, blocks: ${rates.blockSeconds} s blocks and the rest as the preset gives them`,
    `- ${await proofMemory(root, args, usage)}`,
  ];
  for (const f of factors) {
    const ranked = pipeline.searchLayouts(
      Math.max(...boxes),
      { ...rates, colocatedProofContention: f },
      {
        groupsPerBatch: gpbs,
      },
    );
    const { rows, cap } = boxTable(pipeline, ranked, boxes);
    lines.push(
      "",
      `## Contention factor ${f} (${contentionSource.split(" (")[0].split(";")[0]}); cap ${count(cap)}`,
      "",
      ...rows,
    );
  }
  console.log(lines.join("\n"));
}
