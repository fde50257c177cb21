import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { loadModel, type RandomModelOptions, writeRandomModel } from "@grail/engine-native";
import { type CapturedLine, captureLogger } from "@grail/log/testing";
import { workerEntryPoints } from "@grail/proof-worker/entry-points";
import { commitBinding, hashCommitments, LAYER_INDEX, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady, signatureVerify } from "@polkadot/util-crypto";
import { afterAll, expect } from "vitest";
import type {
  HotkeySigner,
  ProofContext,
  ProofGroup,
  ProofPoolOptions,
  ProvedGroup,
} from "../src/pool/index.js";

export const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

/** The built worker (pnpm test builds every package before running the suite). */
export const entryPoints = workerEntryPoints();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "pool-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export const VOCAB = 256;

const TINY: RandomModelOptions = {
  modelType: "qwen2",
  hiddenSize: 64,
  numLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 128,
  vocabSize: VOCAB,
  outliers: true,
  seed: 21,
  initStd: 0.08,
};

export function tinyModel(extra: Partial<RandomModelOptions> = {}): string {
  const dir = tempDir("tiny-model-");
  writeRandomModel(dir, { ...TINY, ...extra });
  return dir;
}

/** An sr25519 hotkey (//Alice) behind the HotkeySigner interface, as the chain package provides. */
export async function testSigner(): Promise<HotkeySigner> {
  await cryptoWaitReady();
  const pair = new Keyring({ type: "sr25519" }).addFromUri("//Alice");
  return { ss58: pair.address, publicKey: pair.publicKey, sign: (m) => pair.sign(m) };
}

export function verifySignature(message: Uint8Array, signature: Uint8Array, ss58: string): boolean {
  return signatureVerify(message, signature, ss58).isValid;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** GRPO-shaped groups: 16 rollouts sharing a prompt, completions of varying length. */
export function makeGroups(
  count: number,
  seed: number,
  opts: { prompt?: number; completion?: number } = {},
): ProofGroup[] {
  const next = xorshift(seed);
  const promptLen = opts.prompt ?? 12;
  const maxCompletion = opts.completion ?? 40;
  return Array.from({ length: count }, (_, g) => {
    const prompt = Array.from({ length: promptLen }, () => next() % VOCAB);
    return {
      groupId: `w${seed}-g${g}`,
      rollouts: Array.from({ length: ROLLOUTS_PER_PROBLEM }, () => {
        const c = 8 + (next() % (maxCompletion - 7));
        return { tokens: [...prompt, ...Array.from({ length: c }, () => next() % VOCAB)], promptLen };
      }),
    };
  });
}

export interface ReferenceRollout {
  sVals: Uint32Array;
  logprobs: Float32Array;
  eosProb: number;
  commitmentsHash: Uint8Array;
  bindingHash: Uint8Array;
}

/** The same groups proved directly with the engine in this process (the in-process reference). */
export async function referenceProofs(
  modelDir: string,
  groups: readonly ProofGroup[],
  ctx: ProofContext,
): Promise<Map<string, ReferenceRollout[]>> {
  const model = await loadModel(modelDir, { backend: "cpu" });
  const out = new Map<string, ReferenceRollout[]>();
  for (const g of groups) {
    const proofs = await model.prove(g.rollouts, ctx.randomnessHex);
    out.set(
      g.groupId,
      proofs.map((p, i) => ({
        ...p,
        commitmentsHash: hashCommitments(p.sVals),
        bindingHash: commitBinding({
          tokens: g.rollouts[i]!.tokens,
          randomnessHex: ctx.randomnessHex,
          modelName: ctx.modelName,
          layerIndex: ctx.layerIndex ?? LAYER_INDEX,
          sketches: p.sVals,
        }),
      })),
    );
  }
  model.close();
  return out;
}

/** Asserts a proved group equals the reference bit for bit and carries valid signatures. */
export function expectMatchesReference(
  proved: ProvedGroup,
  reference: Map<string, ReferenceRollout[]>,
  signer: HotkeySigner,
): void {
  const ref = reference.get(proved.groupId);
  expect(ref, proved.groupId).toBeDefined();
  expect(proved.rollouts).toHaveLength(ref!.length);
  proved.rollouts.forEach((r, i) => {
    const e = ref![i]!;
    expect(r.sVals).toEqual(e.sVals);
    expect(r.logprobs).toEqual(e.logprobs);
    expect(Object.is(r.eosProb, e.eosProb)).toBe(true);
    expect(r.commitmentsHash).toEqual(e.commitmentsHash);
    expect(r.bindingHash).toEqual(e.bindingHash);
    expect(verifySignature(r.bindingHash, r.signature, signer.ss58)).toBe(true);
  });
}

/** Whether a pid is a live process (a zombie counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export { type CapturedLine, captureLogger };

/** Pool options for tests: CPU backend, one engine thread per worker, fast supervision. */
export function poolOptions(
  modelDir: string,
  signer: HotkeySigner,
  extra: Partial<ProofPoolOptions> = {},
): ProofPoolOptions {
  return {
    gpus: [0, 1],
    topology: "subprocess",
    model: { modelDir, checkpointWindow: 30 },
    signer,
    entryPoints,
    backend: "cpu",
    threadsPerWorker: 1,
    cudaVisibleDevices: null,
    heartbeatIntervalMs: 200,
    heartbeatTimeoutMs: 2_000,
    restartBackoffMs: [0, 100],
    shutdownGraceMs: 2_000,
    logger: captureLogger(),
    ...extra,
  };
}

/** The environment of a running process, from /proc. */
export function processEnv(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, "utf8");
  return Object.fromEntries(
    raw
      .split("\0")
      .filter((kv) => kv.includes("="))
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}
