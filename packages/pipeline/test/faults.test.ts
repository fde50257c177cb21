import { rename } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { GroupDroppedError, type PoolEvent, ProofPool, type ProvedGroup } from "../src/pool/index.js";
import {
  captureLogger,
  expectMatchesReference,
  isAlive,
  makeGroups,
  poolOptions,
  referenceProofs,
  testSigner,
  tinyModel,
  waitFor,
} from "./helpers.js";

const CTX = { randomnessHex: "3c".repeat(32), modelName: "test/tiny-qwen2", checkpointWindow: 30 };

/** Counts settlements per group: every group must settle exactly once. */
function settleAll(pool: ProofPool, groups: ReturnType<typeof makeGroups>) {
  const settled = new Map<string, number>();
  const promises = groups.map((g) =>
    pool.proveGroup(g, CTX).then(
      (v) => {
        settled.set(g.groupId, (settled.get(g.groupId) ?? 0) + 1);
        return v;
      },
      (e: unknown) => {
        settled.set(g.groupId, (settled.get(g.groupId) ?? 0) + 1);
        throw e;
      },
    ),
  );
  return { settled, all: Promise.allSettled(promises) };
}

describe("proof pool: worker faults", () => {
  it("kill -9 of a worker mid-batch: restarted, its batches re-dispatched, every group exactly once", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const groups = makeGroups(12, 7, { completion: 120 });
    const reference = await referenceProofs(dir, groups, CTX);
    const pool = await ProofPool.start(poolOptions(dir, signer));
    const victim = pool.stats().workers[0]!.pid!;
    const events: PoolEvent[] = [];
    let killed = false;
    pool.on((e) => {
      events.push(e);
      if (!killed && e.type === "dispatched" && e.pid === victim) {
        killed = true;
        process.kill(victim, "SIGKILL");
      }
    });
    const { settled, all } = settleAll(pool, groups);
    const results = await all;
    expect(killed).toBe(true);
    const proved = results.map((r) => {
      if (r.status === "rejected") throw r.reason;
      return r.value as ProvedGroup;
    });
    for (const g of proved) expectMatchesReference(g, reference, signer);
    expect([...settled.values()].every((n) => n === 1)).toBe(true);
    expect(settled.size).toBe(12);
    expect(events.filter((e) => e.type === "proved")).toHaveLength(12);
    const retried = events.filter((e) => e.type === "retry");
    expect(retried.length).toBeGreaterThanOrEqual(1);
    expect(retried[0]!.type === "retry" && retried[0]!.reason).toMatch(/SIGKILL/);
    await waitFor(() => pool.stats().workers[0]!.state === "ready", 10_000, "the restarted worker");
    const w0 = pool.stats().workers[0]!;
    expect(w0.restarts).toBe(1);
    expect(w0.pid).not.toBe(victim);
    expect(isAlive(victim)).toBe(false);
    const pids = pool.stats().workers.map((w) => w.pid!);
    await pool.shutdown();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it("a hung worker (no heartbeat) is killed and restarted, and its batches are proved elsewhere", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const groups = makeGroups(8, 8);
    const reference = await referenceProofs(dir, groups, CTX);
    const logger = captureLogger();
    const pool = await ProofPool.start(
      poolOptions(dir, signer, { logger, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1_000 }),
    );
    const victim = pool.stats().workers[1]!.pid!;
    let stopped = false;
    pool.on((e) => {
      if (!stopped && e.type === "dispatched" && e.pid === victim) {
        stopped = true;
        process.kill(victim, "SIGSTOP");
      }
    });
    const { settled, all } = settleAll(pool, groups);
    for (const r of await all) {
      if (r.status === "rejected") throw r.reason;
      expectMatchesReference(r.value, reference, signer);
    }
    expect(stopped).toBe(true);
    expect([...settled.values()]).toEqual(Array(8).fill(1));
    expect(
      logger.lines.some(
        (l) => l.message === "killing proof worker" && /no heartbeat/.test(String(l.fields.reason)),
      ),
    ).toBe(true);
    await waitFor(() => pool.stats().workers[1]!.state === "ready", 10_000, "the restarted worker");
    expect(pool.stats().workers[1]!.restarts).toBe(1);
    expect(isAlive(victim)).toBe(false);
    await pool.shutdown();
  });

  it("a batch that fails twice drops its group with the reason; other groups are unaffected", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const groups = makeGroups(4, 9);
    const reference = await referenceProofs(dir, groups, CTX);
    // A token outside the vocabulary: the engine refuses it on every worker.
    const poisoned = {
      groupId: "poisoned",
      rollouts: groups[0]!.rollouts.map((r, i) =>
        i === 5 ? { ...r, tokens: [...r.tokens.slice(0, -1), 999] } : r,
      ),
    };
    const logger = captureLogger();
    const pool = await ProofPool.start(poolOptions(dir, signer, { logger }));
    const events: PoolEvent[] = [];
    pool.on((e) => events.push(e));
    const [bad, ...good] = await pool.proveGroups([poisoned, ...groups], CTX);
    expect(bad!.status).toBe("rejected");
    const err = (bad as PromiseRejectedResult).reason as GroupDroppedError;
    expect(err).toBeInstanceOf(GroupDroppedError);
    expect(err.groupId).toBe("poisoned");
    expect(err.reason).toMatch(/failed 2 times; last: prove_failed: .*outside the vocabulary/);
    expect(err.context.attempts).toBe(2);
    expect(events.filter((e) => e.type === "dispatched" && e.groupId === "poisoned")).toHaveLength(2);
    const drop = logger.lines.find((l) => l.message === "group dropped");
    expect(drop?.level).toBe("warn");
    expect(drop?.fields).toMatchObject({ groupId: "poisoned", attempts: 2 });
    for (const r of good) {
      if (r.status === "rejected") throw r.reason;
      expectMatchesReference(r.value, reference, signer);
    }
    // Engine errors are answers, not crashes: no worker was restarted.
    expect(pool.stats().workers.map((w) => w.restarts)).toEqual([0, 0]);
    expect(pool.stats()).toMatchObject({ dropped: 1, retried: 1, proved: 4 });
    await pool.shutdown();
  });

  it("a worker that keeps dying disables its GPU; the others carry the load", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const logger = captureLogger();
    const pool = await ProofPool.start(
      poolOptions(dir, signer, {
        logger,
        restartLimit: { count: 2, windowMs: 60_000 },
        restartBackoffMs: [0],
      }),
    );
    const killWorker0 = () => {
      const pid = pool.stats().workers[0]!.pid!;
      process.kill(pid, "SIGKILL");
      return pid;
    };
    for (let i = 0; i < 2; i++) {
      const before = killWorker0();
      await waitFor(
        () => {
          const w = pool.stats().workers[0]!;
          return w.state === "ready" && w.pid !== before;
        },
        10_000,
        "restart",
      );
    }
    killWorker0();
    await waitFor(() => pool.stats().workers[0]!.state === "disabled", 10_000, "GPU 0 disabled");
    expect(logger.lines.some((l) => l.level === "error" && /GPU 0 disabled/.test(l.message))).toBe(true);
    const groups = makeGroups(3, 10);
    const results = await pool.proveGroups(groups, CTX);
    expect(results.every((r) => r.status === "fulfilled" && r.value.gpu === 1)).toBe(true);
    await pool.shutdown();
  });

  it("a disabled GPU is tried again with growing backoff and comes back once its worker loads", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const logger = captureLogger();
    const pool = await ProofPool.start(
      poolOptions(dir, signer, {
        logger,
        restartLimit: { count: 1, windowMs: 60_000 },
        restartBackoffMs: [0],
        reenableBackoffMs: [200, 400],
      }),
    );
    try {
      const killWorker0 = async () => {
        const pid = pool.stats().workers[0]!.pid!;
        process.kill(pid, "SIGKILL");
        await waitFor(
          () => pool.stats().workers[0]!.pid !== pid || pool.stats().workers[0]!.state !== "ready",
          10_000,
          "worker 0 seen dead",
        );
      };
      await killWorker0();
      await waitFor(() => pool.stats().workers[0]!.state === "ready", 10_000, "first restart");
      // While the model cannot be read, the retries fail and the GPU stays disabled.
      await rename(dir, `${dir}.away`);
      await killWorker0();
      await waitFor(() => pool.stats().workers[0]!.state === "disabled", 10_000, "GPU 0 disabled");
      await waitFor(
        () => logger.lines.some((l) => /GPU 0 is still failing; next try in 0\.4 s/.test(l.message)),
        10_000,
        "a failed retry",
      );
      expect(logger.lines.some((l) => /GPU 0 disabled: .*next try in 0\.2 s/.test(l.message))).toBe(true);
      await rename(`${dir}.away`, dir);
      await waitFor(() => pool.stats().workers[0]!.state === "ready", 10_000, "GPU 0 back");
      expect(pool.health()).toMatchObject({ alive: 2, lost: 0 });
      expect(logger.lines.some((l) => l.level === "notice" && /GPU 0 is back/.test(l.message))).toBe(true);
      const results = await pool.proveGroups(makeGroups(4, 12), CTX);
      expect(results.every((r) => r.status === "fulfilled")).toBe(true);
      expect(results.some((r) => r.status === "fulfilled" && r.value.gpu === 0)).toBe(true);
    } finally {
      await pool.shutdown();
    }
  });
});
