import {
  checkWindowRows,
  commitBinding,
  hexToBytes,
  LAYER_INDEX,
  parseCommitmentsJson,
  ROLLOUTS_PER_PROBLEM,
  type RolloutRecord,
  windowFileKey,
} from "@grail/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  packageGroup,
  samplingPolicyFromMetadata,
  TimeBudget,
  WindowRun,
  type WindowRunDeps,
  type WindowRunInput,
} from "../src/index.js";
import {
  aliceSigner,
  BLOCK_HASH,
  FakeChain,
  FakeGeneration,
  FakeProofs,
  fakeEnvironment,
  fakeSketch,
  fakeTokenizer,
  GEN_PARAMS,
  MemorySink,
  nullMetrics,
  quietLogger,
  RANDOMNESS,
  verifies,
} from "./mining-helpers.js";

const W = 600;
const DIR = "/ckpt/checkpoint-540";

function input(): WindowRunInput {
  return {
    identity: {
      windowStart: W,
      blockHash: BLOCK_HASH,
      randomness: RANDOMNESS,
      useDrand: false,
      checkpointWindow: 540,
      modelName: "test/model",
    },
    checkpointDir: DIR,
    task: {
      envId: "gsm8k",
      envParams: {},
      thinkingMode: "instructed",
      policy: samplingPolicyFromMetadata(GEN_PARAMS),
    },
    env: fakeEnvironment,
    tokenizer: fakeTokenizer,
  };
}

const chains: FakeChain[] = [];
afterEach(() => {
  for (const c of chains.splice(0)) c.stop();
});

async function setup(opts: {
  groupsPerBatch: number;
  maxPendingGroups?: number;
  blockMs?: number;
  budget?: TimeBudget;
}) {
  const signer = await aliceSigner();
  const chain = new FakeChain(W + 1, opts.blockMs ?? 0);
  chains.push(chain);
  const generation = new FakeGeneration(DIR);
  const proofs = new FakeProofs(signer, 540);
  const sink = new MemorySink();
  const budget = opts.budget ?? new TimeBudget({ safetyBlocks: 3 });
  const stop = new AbortController();
  const deps: WindowRunDeps = {
    chain,
    generation,
    proofs,
    sink,
    signer,
    budget,
    metrics: nullMetrics(),
    logger: quietLogger(),
    settings: {
      groupsPerBatch: opts.groupsPerBatch,
      ...(opts.maxPendingGroups ? { maxPendingGroups: opts.maxPendingGroups } : {}),
    },
    stopSignal: stop.signal,
    readBlock: async () => {
      const b = await chain.currentBlock();
      budget.observeBlock(b, Date.now());
      return b;
    },
  };
  return { signer, chain, generation, proofs, sink, budget, stop, deps };
}

function expectValidFile(rows: RolloutRecord[], hotkey: string) {
  const failures = checkWindowRows(
    rows,
    {
      wallet: hotkey,
      window_start: String(W),
      window_length: "30",
      inference_count: String(rows.length),
      timestamp: "1.5",
    },
    {
      hotkey,
      windowStart: W,
      blockHash: BLOCK_HASH,
      checkpointWindow: 540,
      maxTokens: GEN_PARAMS.max_tokens,
    },
  );
  expect(failures).toEqual([]);
}

describe("window run: batches, double buffering and backpressure", () => {
  it("overlaps generation of batch N+1 with the proofs of batch N, assigns indices in order, and packages valid signed rows", async () => {
    const s = await setup({ groupsPerBatch: 2 });
    s.generation.delayMs = 40;
    s.proofs.delayMs = 70;
    s.proofs.capacity = 4;
    let batches = 0;
    s.deps.onBatch = () => {
      if (++batches >= 4) s.stop.abort(); // no batch after the fourth; the four finish
    };
    const run = new WindowRun(input(), s.deps);
    const summary = await run.run();
    expect(summary.stopReason).toBe("stopping");
    expect(summary.batches).toBe(4);
    expect(s.generation.calls.map((c) => c.prompts)).toEqual([32, 32, 32, 32]);

    // Batch k+1's generate call started before batch k's proofs were done.
    const proofEnd = (group: number) => s.proofs.proved.find((p) => p.groupId === `${W}:${group}`)!.endedAt;
    for (let k = 0; k < 3; k++) {
      const nextStart = s.generation.calls[k + 1]!.startedAt;
      expect(nextStart).toBeLessThan(Math.max(proofEnd(2 * k), proofEnd(2 * k + 1)));
    }

    const rows = s.sink.open.get(W)!;
    expect(summary.groupsPackaged).toBe(8);
    expect(rows).toHaveLength(8 * ROLLOUTS_PER_PROBLEM);
    expect([...new Set(rows.map((r) => r.rollout_group))].sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7,
    ]);
    expectValidFile(rows, s.signer.ss58);

    for (const row of rows.filter((_, i) => i % 37 === 0)) {
      expect(row.nonce).toBe(row.rollout_group * 16 + row.rollout_index);
      expect(row.challenge).toBe(`|${BLOCK_HASH}|${row.nonce}`);
      expect(verifies(row.challenge, row.signature, s.signer.ss58)).toBe(true);
      const sketches = parseCommitmentsJson(row.commit.commitments);
      expect(sketches).toEqual(row.commit.tokens.map((t, i) => fakeSketch(t, i)));
      const binding = commitBinding({
        tokens: row.commit.tokens,
        randomnessHex: row.randomness,
        modelName: row.commit.model.name,
        layerIndex: LAYER_INDEX,
        sketches,
      });
      expect(verifies(binding, row.commit.signature, s.signer.ss58)).toBe(true);
      const p = row.commit.rollout.prompt_length;
      expect(row.commit.rollout.token_logprobs.slice(0, p).every((x) => x === 0)).toBe(true);
      expect(row.commit.rollout.token_logprobs[p]).toBeCloseTo(-0.25, 5);
      expect(row.block).toBe(W + 1);
    }
  });

  it("holds generation back while the proof side is saturated", async () => {
    const s = await setup({ groupsPerBatch: 1, maxPendingGroups: 2 });
    s.generation.delayMs = 5;
    s.proofs.delayMs = 60;
    s.proofs.capacity = 1;
    const run = new WindowRun(input(), s.deps);
    const pendingAtDispatch: number[] = [];
    const generate = s.generation.generate.bind(s.generation);
    s.generation.generate = (p, pol, o) => {
      pendingAtDispatch.push(run.pending);
      return generate(p, pol, o);
    };
    s.deps.onBatch = () => {
      if (s.generation.calls.length >= 6) s.stop.abort();
    };
    const summary = await run.run();
    expect(summary.groupsPackaged).toBe(6);
    // Without backpressure the fast generator would have had ~5 groups queued at the last dispatch.
    expect(Math.max(...pendingAtDispatch)).toBeLessThanOrEqual(1);
    expect(s.proofs.maxActive).toBe(1);
  });
});

describe("window run: drops and stops", () => {
  it("drops short, unproved and failed-generation groups whole and keeps going; indices leave gaps", async () => {
    const s = await setup({ groupsPerBatch: 2 });
    // Call 0: group 1's 5th completion is too short; call 1 fails; call 2: group 5 fails its proof.
    s.generation.lengthOf = (call, prompt) => (call === 0 && prompt === 16 + 4 ? 31 : 40);
    const realGenerate = s.generation.generate.bind(s.generation);
    let call = 0;
    s.generation.generate = async (p, pol, o) => {
      if (call++ === 1) {
        s.generation.calls.push({ prompts: p.length, startedAt: Date.now(), endedAt: Date.now() });
        throw new Error("connection refused");
      }
      return realGenerate(p, pol, o);
    };
    s.proofs.failGroups.add(`${W}:5`);
    s.deps.onBatch = () => {
      if (call >= 4) s.stop.abort();
    };
    const run = new WindowRun(input(), s.deps);
    const summary = await run.run();
    expect(summary.dropped).toEqual({ generation_failed: 3, proof_failed: 1 });
    const groups = [...new Set(s.sink.open.get(W)!.map((r) => r.rollout_group))].sort((a, b) => a - b);
    expect(groups).toEqual([0, 4, 6, 7]);
    expectValidFile(s.sink.open.get(W)!, s.signer.ss58);
  });

  it("stops the window when the server holds other weights than the proofs", async () => {
    const s = await setup({ groupsPerBatch: 1 });
    s.generation.loadedCheckpoint = "/ckpt/checkpoint-480";
    const summary = await new WindowRun(input(), s.deps).run();
    expect(summary.stopReason).toBe("stale_weights");
    expect(summary.dropped).toEqual({ stale_checkpoint: 1 });
    expect(s.sink.open.get(W)).toBeUndefined();
  });

  it("stops starting batches when the time budget says the rest of the window is for the upload", async () => {
    class TenBlocks extends TimeBudget {
      override neededBlocks(): number {
        return 10;
      }
    }
    const s = await setup({ groupsPerBatch: 1, budget: new TenBlocks({ safetyBlocks: 3 }) });
    s.deps.onBatch = () => s.chain.advance(4);
    const summary = await new WindowRun(input(), s.deps).run();
    expect(summary.stopReason).toBe("time_budget");
    // 10 blocks needed: from 29 left, batches at 29, 25, 21, 17 and 13 blocks left, none at 9.
    expect(summary.batches).toBe(5);
    expect(summary.groupsPackaged).toBe(5);
  });

  it("stops after repeated generate failures and on a stop request", async () => {
    const s = await setup({ groupsPerBatch: 1 });
    s.generation.failNext = 10;
    const failing = await new WindowRun(input(), s.deps).run();
    expect(failing.stopReason).toBe("generation_failing");
    expect(failing.dropped).toEqual({ generation_failed: 3 });

    const t = await setup({ groupsPerBatch: 1 });
    t.deps.onBatch = () => t.stop.abort();
    const stopped = await new WindowRun(input(), t.deps).run();
    expect(stopped.stopReason).toBe("stopping");
    expect(stopped.groupsPackaged).toBe(1);
  });

  it("drops groups that finish after the seal time (window_closed) and keeps the ones before", async () => {
    // 40 ms blocks: a 1.2 s window; proofs take 0.5 s, so late batches cannot make the seal.
    const budget = new TimeBudget({ safetyBlocks: 3, deadlineSlackSeconds: 0.1 });
    const t0 = Date.now();
    for (let i = 0; i <= 60; i++) budget.observeBlock(W - 59 + i, t0 - (60 - i) * 40);
    const s = await setup({ groupsPerBatch: 1, blockMs: 40, budget });
    s.generation.delayMs = 10;
    s.proofs.delayMs = 500;
    s.proofs.capacity = 8;
    const run = new WindowRun(input(), { ...s.deps, settings: { groupsPerBatch: 1, maxPendingGroups: 100 } });
    const summary = await run.run();
    await run.settled();
    expect(run.counters.dropped.window_closed ?? 0).toBeGreaterThan(0);
    expect(run.counters.groupsPackaged).toBe(summary.groupsPackaged);
    const packaged = s.sink.open.get(W) ?? [];
    expect(packaged.length).toBe(summary.groupsPackaged * 16);
    // Every group in the sink arrived before the run was sealed.
    expect(s.sink.addTimes.every((t) => t <= summary.sealedAtMs)).toBe(true);
  });
});

describe("window run: a generate call that outlives the seal", () => {
  it("seals on time with the groups already proved and drops the late batch without proving it", async () => {
    // The seal is 400 ms away; the second generate call takes 3 s. The run must not wait for it.
    const sealAt = Date.now() + 400;
    class SealSoon extends TimeBudget {
      override sealMs(): number {
        return sealAt;
      }
      override groupsThatFit(_w: number, _b: number, groupsPerBatch: number): number {
        return groupsPerBatch;
      }
    }
    const s = await setup({ groupsPerBatch: 1, budget: new SealSoon({ safetyBlocks: 3 }) });
    let calls = 0;
    const generate = s.generation.generate.bind(s.generation);
    s.generation.generate = (p, pol, o) => {
      s.generation.delayMs = calls++ === 0 ? 10 : 3_000;
      return generate(p, pol, o);
    };
    s.proofs.delayMs = 10;
    const run = new WindowRun(input(), s.deps);
    const summary = await run.run();
    expect(summary.stopReason).toBe("sealed");
    expect(summary.sealedAtMs - sealAt).toBeLessThan(1_000);
    expect(summary.groupsPackaged).toBe(1);
    expect(s.sink.open.get(W)).toHaveLength(ROLLOUTS_PER_PROBLEM);

    await run.settled();
    expect(run.counters.dropped.window_closed).toBe(1);
    expect(s.proofs.proved.map((p) => p.groupId)).toEqual([`${W}:0`]);
    expect(s.sink.open.get(W)).toHaveLength(ROLLOUTS_PER_PROBLEM);
  });
});

describe("packaging", () => {
  it("writes nonces, challenges, python-style commitments JSON and logprobs as the validator reads them", async () => {
    const signer = await aliceSigner();
    const tokens = [5, 6, 7, 8, 9];
    const rows = packageGroup(
      input().identity,
      {
        groupIndex: 3,
        block: 607,
        rollouts: [
          {
            tokens,
            promptLength: 2,
            reward: 0.5,
            advantage: 0.25,
            success: true,
            sVals: [84, 2147483563, 0, 1, 2],
            logprobs: Float32Array.from([-0.5, -1.5, -Infinity]),
            commitSignature: hexToBytes("ab".repeat(64)),
          },
        ],
      },
      signer,
      1712345678.5,
    );
    expect(rows).toHaveLength(1);
    const r = rows[0]!;
    expect(r).toMatchObject({
      window_start: W,
      block: 607,
      nonce: 48,
      rollout_group: 3,
      rollout_index: 0,
      total_in_group: 1,
      checkpoint_window: 540,
      challenge: `|${BLOCK_HASH}|48`,
      hotkey: signer.ss58,
      timestamp: 1712345678.5,
    });
    expect(r.commit.commitments).toBe(
      '[{"sketch": 84}, {"sketch": 2147483563}, {"sketch": 0}, {"sketch": 1}, {"sketch": 2}]',
    );
    expect(r.commit.beacon).toBe(`{"randomness": "${RANDOMNESS}"}`);
    expect(r.commit.signature).toBe("ab".repeat(64));
    expect(r.commit.rollout.token_logprobs).toEqual([0, 0, -0.5, -1.5, -Infinity]);
    expect(r.commit.rollout).toMatchObject({ prompt_length: 2, completion_length: 3, total_reward: 0.5 });
    expect(verifies(r.challenge, r.signature, signer.ss58)).toBe(true);
    expect(windowFileKey(signer.ss58, W)).toContain(`-window-${W}.parquet`);
    expect(() =>
      packageGroup(
        input().identity,
        {
          groupIndex: 0,
          block: 1,
          rollouts: [
            {
              ...rows[0]!.commit,
              tokens,
              promptLength: 2,
              reward: 0,
              advantage: 0,
              success: false,
              sVals: [1],
              logprobs: [],
              commitSignature: new Uint8Array(64),
            },
          ],
        },
        signer,
        0,
      ),
    ).toThrow(/sketches/);
  });
});
