import { setTimeout as sleep } from "node:timers/promises";
import { checkWindowRows, noDrandRandomness, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Backends,
  MiningEngine,
  type MiningEngineDeps,
  PipelineInitError,
  type WindowReport,
} from "../src/index.js";
import {
  aliceSigner,
  checkpointMetadata,
  FakeChain,
  FakeCheckpoints,
  FakeGeneration,
  FakeProofs,
  fakeEnvironment,
  fakeTokenizer,
  type Line,
  MemorySink,
  nullMetrics,
  quietLogger,
} from "./mining-helpers.js";

const chains: FakeChain[] = [];
afterEach(() => {
  for (const c of chains.splice(0)) c.stop();
});

async function setup(start: number, blockMs = 40) {
  const signer = await aliceSigner();
  const chain = new FakeChain(start, blockMs);
  chains.push(chain);
  const checkpoints = new FakeCheckpoints();
  const sink = new MemorySink();
  const lines: Line[] = [];
  const logger = quietLogger(lines);
  let generation: FakeGeneration | null = null;
  let proofs: FakeProofs | null = null;
  const starts: string[] = [];
  const deps: MiningEngineDeps = {
    chain,
    randomness: {
      drandEnabled: false,
      forWindow: async (h) => ({ randomness: noDrandRandomness(h), useDrand: false }),
    },
    checkpoints,
    startBackends: async ({ dir, window }): Promise<Backends> => {
      starts.push(dir);
      generation = new FakeGeneration(dir);
      generation.delayMs = 10;
      proofs = new FakeProofs(signer, window);
      proofs.delayMs = 15;
      return { generation, proofs };
    },
    loadTokenizer: async () => fakeTokenizer,
    environments: () => fakeEnvironment,
    sink,
    signer,
    metrics: nullMetrics(),
    logger,
    settings: { groupsPerBatch: 2, safetyBlocks: 3, deadlineSlackSeconds: 0, retryDelayMs: 50 },
  };
  const engine = new MiningEngine(deps);
  return {
    signer,
    chain,
    checkpoints,
    sink,
    lines,
    deps,
    engine,
    starts,
    gen: () => generation!,
    proofs: () => proofs!,
  };
}

function windows(engine: MiningEngine, count: number): Promise<WindowReport[]> {
  return new Promise((resolve) => {
    const seen: WindowReport[] = [];
    const off = engine.onWindow((r) => {
      seen.push(r);
      if (seen.length >= count) {
        off();
        resolve(seen);
      }
    });
  });
}

describe("mining engine: the window loop", () => {
  it("mines consecutive windows, switches checkpoint in place on both sides, and uploads valid files", async () => {
    const s = await setup(61);
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    const loop = s.engine.runLoop();
    const first = await windows(s.engine, 1);
    // A newer checkpoint becomes ready during the first mined window.
    s.checkpoints.add(60, first[0]!.windowStart + 1, "/ckpt/checkpoint-60");
    const more = await windows(s.engine, 2);
    s.engine.stop("test done");
    await loop;

    const reports = [...first, ...more];
    expect(s.starts).toEqual(["/ckpt/checkpoint-30"]);
    expect(reports[0]!.checkpointWindow).toBe(30);
    expect(reports[2]!.checkpointWindow).toBe(60);
    expect(s.gen().syncs).toEqual(["/ckpt/checkpoint-60"]);
    expect(s.proofs().reloads).toEqual([{ modelDir: "/ckpt/checkpoint-60", checkpointWindow: 60 }]);
    for (const r of reports) {
      expect(r.upload?.status).toBe("uploaded");
      const rows = s.sink.published.get(r.windowStart)!;
      expect(rows.length).toBe(r.run.groupsPackaged * ROLLOUTS_PER_PROBLEM);
      expect(rows.length).toBeGreaterThan(0);
      const hash = await s.chain.blockHash(r.windowStart);
      expect(
        checkWindowRows(
          rows,
          {
            wallet: s.signer.ss58,
            window_start: String(r.windowStart),
            window_length: "30",
            inference_count: String(rows.length),
            timestamp: "1.0",
          },
          {
            hotkey: s.signer.ss58,
            windowStart: r.windowStart,
            blockHash: hash,
            checkpointWindow: r.checkpointWindow,
          },
        ),
      ).toEqual([]);
    }
    expect(new Set(reports.map((r) => r.windowStart)).size).toBe(3);
    expect(s.lines.some((l) => l.level === "notice" && /^window \d+: \d+ groups/.test(l.message))).toBe(true);
  });

  it("skips a window with malformed metadata once (no retry storm) and mines the next one", async () => {
    const s = await setup(61);
    s.checkpoints.add(
      30,
      40,
      "/ckpt/checkpoint-30",
      checkpointMetadata(30, { generation_params: { max_tokens: "many" as unknown as number } }),
    );
    let metadataReads = 0;
    const getMetadata = s.checkpoints.getMetadata.bind(s.checkpoints);
    s.checkpoints.getMetadata = async (w) => {
      metadataReads++;
      return getMetadata(w);
    };
    const loop = s.engine.runLoop();
    while (!s.lines.some((l) => l.message === "window skipped")) await sleep(20);
    const skipped = s.lines.find((l) => l.message === "window skipped")!;
    expect(skipped.fields).toMatchObject({ window: 60, reason: "metadata_invalid" });
    expect(metadataReads).toBe(1);
    // The trainer republishes correct metadata; the next window mines.
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    const [report] = await windows(s.engine, 1);
    s.engine.stop();
    await loop;
    expect(report!.windowStart).toBe(90);
    expect(metadataReads).toBe(2);
    expect(s.sink.published.get(60)).toBeUndefined();
  });

  it("skips windows whose checkpoint cannot be loaded or synced instead of mining with old weights", async () => {
    const s = await setup(61);
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    const loop = s.engine.runLoop();
    const [first] = await windows(s.engine, 1);
    expect(first!.windowStart).toBe(60);
    // Window 90 gets checkpoint 60, whose download fails; window 120 gets checkpoint 90, whose sync fails.
    s.checkpoints.add(60, 61, "/ckpt/checkpoint-60");
    s.checkpoints.failLoad.add(60);
    const skips = () => s.lines.filter((l) => l.message === "window skipped").map((l) => l.fields);
    while (skips().length < 1) await sleep(20);
    expect(skips()[0]).toMatchObject({ window: 90, reason: "checkpoint_unavailable" });
    s.checkpoints.add(90, 91, "/ckpt/checkpoint-90");
    s.gen().failSync = true;
    while (skips().length < 2) await sleep(20);
    expect(skips()[1]).toMatchObject({ window: 120, reason: "weights_not_synced" });
    s.gen().failSync = false;
    const [next] = await windows(s.engine, 1);
    s.engine.stop();
    await loop;
    expect(next).toMatchObject({ windowStart: 150, checkpointWindow: 90 });
    expect(s.sink.published.has(90)).toBe(false);
    expect(s.sink.published.has(120)).toBe(false);
    expect(s.sink.published.get(150)!.every((r) => r.checkpoint_window === 90)).toBe(true);
  });

  it("publishes the groups finished before a mid-window chain failure", async () => {
    const s = await setup(61, 0);
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    let batches = 0;
    const engine = new MiningEngine({
      ...s.deps,
      startBackends: async (ckpt) => {
        const backends = await s.deps.startBackends(ckpt);
        const gen = backends.generation as FakeGeneration;
        const generate = gen.generate.bind(gen);
        gen.generate = async (...args) => {
          const out = await generate(...args);
          if (++batches === 3) s.chain.failReads = 1000; // the chain goes away after the third batch
          return out;
        };
        return backends;
      },
    });
    s.engine = engine;
    const loop = engine.runLoop();
    const [report] = await windows(s.engine, 1);
    s.chain.failReads = 0;
    s.engine.stop();
    await loop;
    expect(report!.run.stopReason).toBe("chain_unavailable");
    expect(report!.upload?.status).toBe("uploaded");
    expect(s.sink.published.get(60)!.length).toBe(3 * 2 * ROLLOUTS_PER_PROBLEM);
  });

  it("turns a failed pipeline start into PipelineInitError (exit 1 for a supervisor)", async () => {
    const s = await setup(61);
    s.checkpoints.add(30, 40, "/ckpt/checkpoint-30");
    const engine = new MiningEngine({
      ...s.deps,
      startBackends: async () => {
        throw new Error("address already in use");
      },
    });
    const err = await engine.runLoop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineInitError);
    expect((err as PipelineInitError).exitCode).toBe(1);
    expect((err as Error).message).toMatch(/address already in use/);
  });
});
