import { loadModel } from "@grail/engine-native";
import { IPC_PROTOCOL_VERSION, type ProveRequest, type WorkerReply } from "@grail/ipc";
import { bytesToHex, commitBinding, hashCommitments, LAYER_INDEX } from "@grail/protocol";
import { describe, expect, it } from "vitest";
import { WorkerCore } from "../src/core.js";
import { loadNativeModel, type ModelLoader } from "../src/engine.js";
import { captureLogger, flatBatch, tinyModel } from "./helpers.js";

const RANDOMNESS = "5e".repeat(32);
const MODEL_NAME = "test/tiny-qwen2";

function proveReq(id: number, n: number, seed: number, checkpointWindow = 30): ProveRequest {
  const b = flatBatch(n, seed);
  return {
    type: "prove",
    id,
    checkpointWindow,
    randomnessHex: RANDOMNESS,
    modelName: MODEL_NAME,
    layerIndex: LAYER_INDEX,
    groupSizes: [n],
    tokens: b.tokens,
    lengths: b.lengths,
    promptLens: b.promptLens,
  };
}

function load(id: number, modelDir: string, checkpointWindow = 30) {
  return {
    type: "load" as const,
    id,
    protocolVersion: IPC_PROTOCOL_VERSION,
    modelDir,
    checkpointWindow,
    backend: "cpu",
    threads: 1,
  };
}

function expectType<T extends WorkerReply["type"]>(
  r: WorkerReply,
  type: T,
): Extract<WorkerReply, { type: T }> {
  if (r.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(r)}`);
  return r as Extract<WorkerReply, { type: T }>;
}

describe("WorkerCore (native engine, CPU backend)", () => {
  it("proves a batch exactly like the engine and hashes each rollout's commit binding", async () => {
    const dir = tinyModel();
    const core = new WorkerCore({ logger: captureLogger() });
    expect(core.hello()).toMatchObject({
      type: "hello",
      protocolVersion: IPC_PROTOCOL_VERSION,
      engine: "native",
    });
    expectType(await core.handle(proveReq(1, 3, 1)), "error");
    const loaded = expectType(await core.handle(load(2, dir)), "loaded");
    expect(loaded).toMatchObject({
      checkpointWindow: 30,
      backend: "cpu",
      model: { modelType: "qwen2", vocabSize: 256 },
    });

    const req = proveReq(3, 21, 2);
    const reply = expectType(await core.handle(req), "proved");
    expect(reply.id).toBe(3);
    expect(reply.checkpointWindow).toBe(30);

    const engine = await loadModel(dir, { backend: "cpu", threads: 1 });
    const b = flatBatch(21, 2);
    const direct = await engine.prove(b.rollouts, RANDOMNESS);
    engine.close();
    let at = 0;
    let lp = 0;
    direct.forEach((p, i) => {
      const len = b.rollouts[i]!.tokens.length;
      expect(reply.sVals.subarray(at, at + len)).toEqual(p.sVals);
      expect(reply.logprobs.subarray(lp, lp + p.logprobs.length)).toEqual(p.logprobs);
      expect(reply.eosProbs[i]).toBe(p.eosProb);
      expect(bytesToHex(reply.commitmentsHashes.subarray(i * 32, i * 32 + 32))).toBe(
        bytesToHex(hashCommitments(p.sVals)),
      );
      const binding = commitBinding({
        tokens: b.rollouts[i]!.tokens,
        randomnessHex: RANDOMNESS,
        modelName: MODEL_NAME,
        layerIndex: LAYER_INDEX,
        sketches: p.sVals,
      });
      expect(bytesToHex(reply.bindingHashes.subarray(i * 32, i * 32 + 32))).toBe(bytesToHex(binding));
      at += len;
      lp += p.logprobs.length;
    });
    expect(expectType(await core.handle({ type: "health", id: 4 }), "status")).toMatchObject({
      state: "ready",
      checkpointWindow: 30,
      modelDir: dir,
      busy: false,
      jobsDone: 1,
    });
    await core.close();
  });

  it("forwards sub-batches of PROOF_BATCH_SIZE to the engine", async () => {
    const sizes: number[] = [];
    const spying: ModelLoader = async (dir, o) => {
      const m = await loadNativeModel(dir, o);
      return {
        ...m,
        prove: (batch, r) => {
          sizes.push(batch.length);
          return m.prove(batch, r);
        },
      };
    };
    const core = new WorkerCore({ logger: captureLogger(), loader: spying });
    expectType(await core.handle(load(1, tinyModel())), "loaded");
    expectType(await core.handle(proveReq(2, 40, 3)), "proved");
    expect(sizes).toEqual([16, 16, 8]);
    await core.close();
  });

  it("takes the engine's switches from the load message's options and refuses values that are not booleans", async () => {
    const dir = tinyModel();
    const plain = new WorkerCore({ logger: captureLogger() });
    expectType(await plain.handle(load(1, dir)), "loaded");
    const expected = expectType(await plain.handle(proveReq(2, 3, 7)), "proved");
    await plain.close();

    // Keys of other engines (the torch worker's attn) pass; the switches change no result.
    const switched = new WorkerCore({ logger: captureLogger() });
    const options = { profile: true, sharePrompts: false, attn: "sdpa" };
    expectType(await switched.handle({ ...load(1, dir), options }), "loaded");
    const proved = expectType(await switched.handle(proveReq(2, 3, 7)), "proved");
    expect(proved.sVals).toEqual(expected.sVals);
    expect(proved.bindingHashes).toEqual(expected.bindingHashes);

    const refused = new WorkerCore({ logger: captureLogger() });
    const failed = expectType(
      await refused.handle({ ...load(3, dir), options: { profile: "yes" } }),
      "error",
    );
    expect(failed).toMatchObject({ code: "load_failed", details: { engineCode: "invalid_input" } });
    expect(failed.message).toMatch(/profile must be true or false/);
    await switched.close();
    await refused.close();
  });

  it("reloads in place, tags proofs with the new checkpoint and refuses stale batches", async () => {
    const dirA = tinyModel({ seed: 1 });
    const dirB = tinyModel({ seed: 2 });
    const core = new WorkerCore({ logger: captureLogger() });
    expectType(await core.handle(load(1, dirA, 30)), "loaded");
    const a = expectType(await core.handle(proveReq(2, 4, 5, 30)), "proved");
    // A reload queued behind a prove waits for it: the prove still runs on A.
    const pending = core.handle(proveReq(3, 4, 5, 30));
    const reloaded = core.handle({ type: "reload", id: 4, modelDir: dirB, checkpointWindow: 60 });
    expect(expectType(await pending, "proved").sVals).toEqual(a.sVals);
    expect(expectType(await reloaded, "reloaded")).toMatchObject({ checkpointWindow: 60, modelDir: dirB });
    const stale = expectType(await core.handle(proveReq(5, 4, 5, 30)), "error");
    expect(stale).toMatchObject({ id: 5, code: "stale_checkpoint", details: { requested: 30, loaded: 60 } });
    const b = expectType(await core.handle(proveReq(6, 4, 5, 60)), "proved");
    expect(b.checkpointWindow).toBe(60);
    expect(b.sVals).not.toEqual(a.sVals);
    // A checkpoint with another architecture is loaded as a new model, still in this process.
    const dirC = tinyModel({ numLayers: 3, seed: 3 });
    expectType(
      await core.handle({ type: "reload", id: 7, modelDir: dirC, checkpointWindow: 90 }),
      "reloaded",
    );
    expect(expectType(await core.handle(proveReq(8, 2, 5, 90)), "proved").checkpointWindow).toBe(90);
    await core.close();
  });

  it("answers every failure with a typed error and keeps serving", async () => {
    const core = new WorkerCore({ logger: captureLogger() });
    expect(
      await core.handle({ type: "reload", id: 1, modelDir: "/nowhere", checkpointWindow: 1 }),
    ).toMatchObject({
      type: "error",
      code: "not_loaded",
    });
    expect(
      await core.handle({ ...load(2, "/nowhere"), protocolVersion: IPC_PROTOCOL_VERSION + 1 }),
    ).toMatchObject({
      type: "error",
      id: 2,
      code: "unsupported_version",
    });
    const failed = expectType(await core.handle(load(3, "/nowhere")), "error");
    expect(failed).toMatchObject({ code: "load_failed", details: { engineCode: "missing_file" } });
    expect(expectType(await core.handle({ type: "health", id: 4 }), "status").state).toBe("failed");

    const dir = tinyModel();
    expectType(await core.handle(load(5, dir)), "loaded");
    const bad = proveReq(6, 2, 1);
    bad.tokens[3] = 100_000;
    expect(await core.handle(bad)).toMatchObject({
      type: "error",
      id: 6,
      code: "prove_failed",
      details: { engineCode: "invalid_input" },
    });
    expect(
      await core.handle({ type: "reload", id: 7, modelDir: "/nowhere", checkpointWindow: 60 }),
    ).toMatchObject({
      type: "error",
      code: "reload_failed",
    });
    expect(await core.handle(proveReq(8, 2, 1))).toMatchObject({ type: "error", code: "not_loaded" });

    expect(await core.handle({ type: "shutdown", id: 9 })).toEqual({ type: "bye", id: 9 });
    expect(await core.handle(load(10, dir))).toMatchObject({ type: "error", code: "shutting_down" });
    await core.close();
  });
});
