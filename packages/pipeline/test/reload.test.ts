import { describe, expect, it } from "vitest";
import {
  type GroupDroppedError,
  ProofPool,
  type ProvedGroup,
  StaleCheckpointError,
} from "../src/pool/index.js";
import {
  captureLogger,
  expectMatchesReference,
  isAlive,
  makeGroups,
  poolOptions,
  referenceProofs,
  testSigner,
  tinyModel,
} from "./helpers.js";

const BASE = { randomnessHex: "71".repeat(32), modelName: "test/tiny-qwen2" };

describe("proof pool: checkpoint reload", () => {
  it("swaps weights in place (same pids), tags results and drops groups of the old checkpoint", async () => {
    const signer = await testSigner();
    const dirA = tinyModel({ seed: 100 });
    const dirB = tinyModel({ seed: 200 });
    const groups = makeGroups(8, 11);
    const refA = await referenceProofs(dirA, groups, { ...BASE, checkpointWindow: 30 });
    const refB = await referenceProofs(dirB, groups, { ...BASE, checkpointWindow: 60 });

    const pool = await ProofPool.start(poolOptions(dirA, signer));
    const pids = pool.stats().workers.map((w) => w.pid!);
    const first = await pool.proveGroups(groups.slice(0, 4), { ...BASE, checkpointWindow: 30 });
    for (const r of first) {
      if (r.status === "rejected") throw r.reason;
      expect(r.value.checkpointWindow).toBe(30);
      expectMatchesReference(r.value, refA, signer);
    }

    const outcomes = await pool.reload({ modelDir: dirB, checkpointWindow: 60 });
    expect(outcomes).toEqual([
      { gpu: 0, outcome: "reloaded" },
      { gpu: 1, outcome: "reloaded" },
    ]);
    expect(pool.stats().workers.map((w) => w.pid)).toEqual(pids);
    expect(pool.stats().workers.map((w) => w.restarts)).toEqual([0, 0]);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    expect(pool.model).toEqual({ modelDir: dirB, checkpointWindow: 60 });

    const second = await pool.proveGroups(groups, { ...BASE, checkpointWindow: 60 });
    for (const r of second) {
      if (r.status === "rejected") throw r.reason;
      expect(r.value.checkpointWindow).toBe(60);
      expectMatchesReference(r.value, refB, signer);
      expect(r.value.rollouts[0]!.sVals).not.toEqual(refA.get(r.value.groupId)![0]!.sVals);
    }
    await expect(pool.proveGroup(groups[0]!, { ...BASE, checkpointWindow: 30 })).rejects.toBeInstanceOf(
      StaleCheckpointError,
    );

    // Reload while groups are in flight and queued: in-flight batches finish on the weights they were
    // sent with (and keep their tag); queued groups of the old checkpoint are dropped as stale.
    const racing = pool.proveGroups(groups, { ...BASE, checkpointWindow: 60 });
    const back = pool.reload({ modelDir: dirA, checkpointWindow: 90 });
    const settled = await racing;
    await back;
    const done = settled.filter((r): r is PromiseFulfilledResult<ProvedGroup> => r.status === "fulfilled");
    const stale = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(done.length + stale.length).toBe(groups.length);
    for (const r of done) {
      expect(r.value.checkpointWindow).toBe(60);
      expectMatchesReference(r.value, refB, signer);
    }
    for (const r of stale) expect(r.reason).toBeInstanceOf(StaleCheckpointError);
    const again = await pool.proveGroups(groups.slice(0, 2), { ...BASE, checkpointWindow: 90 });
    for (const r of again) {
      if (r.status === "rejected") throw r.reason;
      expect(r.value.rollouts.map((x) => x.sVals)).toEqual(refA.get(r.value.groupId)!.map((x) => x.sVals));
    }
    expect(pool.stats().workers.map((w) => w.pid)).toEqual(pids);
    await pool.shutdown();
  });

  it("a worker that dies during a reload is restarted with the new checkpoint", async () => {
    const signer = await testSigner();
    const dirA = tinyModel({ seed: 1 });
    const dirB = tinyModel({ seed: 2 });
    const pool = await ProofPool.start(poolOptions(dirA, signer, { gpus: [0] }));
    const pid = pool.stats().workers[0]!.pid!;
    process.kill(pid, "SIGKILL");
    const outcomes = await pool.reload({ modelDir: dirB, checkpointWindow: 60 });
    expect(outcomes).toEqual([{ gpu: 0, outcome: "restarted" }]);
    expect(pool.stats().workers[0]!.pid).not.toBe(pid);
    const groups = makeGroups(1, 12);
    const ref = await referenceProofs(dirB, groups, { ...BASE, checkpointWindow: 60 });
    const [r] = await pool.proveGroups(groups, { ...BASE, checkpointWindow: 60 });
    if (r!.status === "rejected") throw r!.reason;
    expectMatchesReference(r!.value, ref, signer);
    await pool.shutdown();
  });

  it("a checkpoint no worker can load disables the GPUs and drops groups with the reason", async () => {
    const signer = await testSigner();
    const logger = captureLogger();
    const pool = await ProofPool.start(
      poolOptions(tinyModel(), signer, {
        gpus: [0],
        logger,
        restartLimit: { count: 2, windowMs: 60_000 },
        restartBackoffMs: [0],
      }),
    );
    const outcomes = await pool.reload({ modelDir: "/nonexistent/checkpoint-60", checkpointWindow: 60 });
    expect(outcomes).toEqual([{ gpu: 0, outcome: "unavailable" }]);
    expect(pool.stats().workers[0]!.state).toBe("disabled");
    expect(logger.lines.some((l) => l.level === "error" && /GPU 0 disabled/.test(l.message))).toBe(true);
    const [r] = await pool.proveGroups(makeGroups(1, 13), { ...BASE, checkpointWindow: 60 });
    expect(r!.status === "rejected" && (r!.reason as GroupDroppedError).reason).toBe(
      "no proof worker is available",
    );
    await pool.shutdown();
  });
});
