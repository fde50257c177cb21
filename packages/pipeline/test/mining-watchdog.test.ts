import { setTimeout as sleep } from "node:timers/promises";
import { noDrandRandomness } from "@grail/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Backends,
  FatalMiningError,
  MiningEngine,
  type Stall,
  Watchdog,
  type WindowReport,
} from "../src/index.js";
import {
  aliceSigner,
  FakeChain,
  FakeCheckpoints,
  FakeGeneration,
  FakeProofs,
  fakeEnvironment,
  fakeTokenizer,
  MemorySink,
  nullMetrics,
  quietLogger,
} from "./mining-helpers.js";

const chains: FakeChain[] = [];
afterEach(() => {
  for (const c of chains.splice(0)) c.stop();
});

/**
 * An engine on fakes, supervised like the miner does it: the watchdog hears the loop's progress,
 * and a stall fails the engine (runLoop rejects with FatalMiningError: exit 1 for a supervisor).
 */
async function supervised(watchdog: {
  timeoutMs: number;
  checkIntervalMs: number;
  maxWindowsWithoutUpload: number;
}) {
  const signer = await aliceSigner();
  const chain = new FakeChain(61, 40);
  chains.push(chain);
  const checkpoints = new FakeCheckpoints();
  const sink = new MemorySink();
  let proofs: FakeProofs | null = null;
  const stalls: Stall[] = [];
  let engine: MiningEngine | null = null;
  const dog = new Watchdog({
    ...watchdog,
    onStall: (stall) => {
      stalls.push(stall);
      engine!.fail(new FatalMiningError(`watchdog: ${stall.message}`, { ...stall }));
    },
  });
  engine = new MiningEngine({
    chain,
    randomness: {
      drandEnabled: false,
      forWindow: async (h) => ({ randomness: noDrandRandomness(h), useDrand: false }),
    },
    checkpoints,
    startBackends: async ({ dir, window }): Promise<Backends> => {
      const generation = new FakeGeneration(dir);
      generation.delayMs = 10;
      proofs = new FakeProofs(signer, window);
      proofs.delayMs = 5;
      proofs.failAll = true;
      return { generation, proofs };
    },
    loadTokenizer: async () => fakeTokenizer,
    environments: () => fakeEnvironment,
    sink,
    signer,
    metrics: nullMetrics(),
    logger: quietLogger(),
    settings: { groupsPerBatch: 2, safetyBlocks: 3, deadlineSlackSeconds: 0, retryDelayMs: 20 },
    progress: dog,
  });
  dog.start();
  const reports: WindowReport[] = [];
  engine.onWindow((r) => reports.push(r));
  return { engine, chain, checkpoints, sink, stalls, reports, dog, proofs: () => proofs };
}

/** runLoop's end, or "still running" once `windows` more windows went by (each 30 blocks of 40 ms). */
async function outcome(engine: MiningEngine, chain: FakeChain, windows: number): Promise<unknown> {
  const stopAt = chain.head + windows * 30;
  const loop = engine.runLoop().then(
    () => "stopped",
    (e: unknown) => e,
  );
  const late = new Promise<string>((resolve) => {
    const t = setInterval(() => {
      if (chain.head >= stopAt) {
        clearInterval(t);
        resolve("still running");
      }
    }, 20);
    void loop.then(() => clearInterval(t));
  });
  const first = await Promise.race([loop, late]);
  if (first === "still running") {
    engine.stop("test over");
    await loop;
  }
  return first;
}

describe("watchdog: progress is windows uploaded, not loop passes", () => {
  it("counts windows that end without an upload; an upload resets the count, excused windows do not count", () => {
    const stalls: Stall[] = [];
    const w = new Watchdog({
      timeoutMs: 1_000,
      checkIntervalMs: 100,
      maxWindowsWithoutUpload: 3,
      onStall: (s) => stalls.push(s),
      now: () => 0,
    });
    w.windowEnded(30, "no_upload");
    w.windowEnded(60, "no_upload");
    w.windowEnded(90, "uploaded");
    w.windowEnded(120, "no_upload");
    w.windowEnded(150, "excused");
    w.windowEnded(180, "no_upload");
    expect(stalls).toEqual([]);
    expect(w.windowsWithoutUpload).toBe(2);
    w.windowEnded(210, "no_upload");
    w.windowEnded(240, "no_upload");
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ reason: "no_uploads", windowsWithoutUpload: 3 });
    expect(stalls[0]!.message).toBe("3 windows in a row ended without an upload (last uploaded: window 90)");
  });

  it("fails the engine after the configured number of windows whose groups were all dropped", async () => {
    const s = await supervised({ timeoutMs: 600_000, checkIntervalMs: 60_000, maxWindowsWithoutUpload: 2 });
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    const end = await outcome(s.engine, s.chain, 6);
    s.dog.stop();
    expect(end).toBeInstanceOf(FatalMiningError);
    expect((end as FatalMiningError).exitCode).toBe(1);
    expect((end as Error).message).toMatch(/^watchdog: 2 windows in a row ended without an upload/);
    expect(s.reports.length).toBe(2);
    expect(s.reports.every((r) => r.upload === null && r.run.groupsDropped > 0)).toBe(true);
  });

  it("counts skipped windows, but not windows with no checkpoint to mine yet", async () => {
    const s = await supervised({ timeoutMs: 600_000, checkIntervalMs: 60_000, maxWindowsWithoutUpload: 2 });
    // No checkpoint for a while: waiting for the trainer is no reason to restart.
    const first = s.engine.runLoop().then(
      () => "stopped",
      (e: unknown) => e,
    );
    const start = s.chain.head;
    while (s.chain.head < start + 3 * 30) await sleep(20);
    expect(s.stalls).toEqual([]);
    // Then a checkpoint that cannot be downloaded: each window is skipped, and that counts.
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    s.checkpoints.failLoad.add(30);
    const end = await Promise.race([first, sleep(6 * 30 * 40, "still running")]);
    if (end === "still running") {
      s.engine.stop();
      await first;
    }
    s.dog.stop();
    expect(end).toBeInstanceOf(FatalMiningError);
    expect(s.stalls).toMatchObject([{ reason: "no_uploads", windowsWithoutUpload: 2 }]);
  });

  it("a window whose every attempt fails counts once the chain has moved past it", async () => {
    const s = await supervised({ timeoutMs: 600_000, checkIntervalMs: 60_000, maxWindowsWithoutUpload: 2 });
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    // An unexpected error: the loop retries the window while it is current, then moves on.
    let attempts = 0;
    s.chain.blockHash = async () => {
      attempts++;
      throw new Error("block hash lookup failed");
    };
    const end = await outcome(s.engine, s.chain, 6);
    s.dog.stop();
    expect(end).toBeInstanceOf(FatalMiningError);
    expect(s.stalls).toMatchObject([{ reason: "no_uploads", windowsWithoutUpload: 2 }]);
    expect(attempts).toBeGreaterThan(2);
  });

  it("loop passes that get nothing done do not feed it: a chain that never answers ends in a stall", async () => {
    const s = await supervised({ timeoutMs: 400, checkIntervalMs: 50, maxWindowsWithoutUpload: 5 });
    s.chain.failReads = 1_000_000;
    const end = await outcome(s.engine, s.chain, 3);
    s.dog.stop();
    expect(end).toBeInstanceOf(FatalMiningError);
    expect(s.stalls).toHaveLength(1);
    expect(s.stalls[0]!.reason).toBe("silent");
    expect(s.stalls[0]!.message).toMatch(
      /^no progress \(a batch, an upload or the end of a window\) for \d+ s$/,
    );
  });
});
