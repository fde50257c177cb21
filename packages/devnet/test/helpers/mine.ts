import { PassThrough } from "node:stream";
import type { HotkeySigner } from "@grail/chain";
import { createLogger, type Logger } from "@grail/log";
import { MiningEngine, type WindowReport } from "@grail/pipeline";
import { type Devnet, localMiningParts, seedBlockTime } from "../../src/index.js";

/** A logger whose output is kept (printed when a test fails). */
export function capturedLogger(): { logger: Logger; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => {
    text += c.toString();
    if (text.length > 400_000) text = text.slice(-200_000);
  });
  return { logger: createLogger({ verbosity: 1, stream, json: true }), text: () => text };
}

export interface LocalMinerRun {
  reports: WindowReport[];
  stop(): Promise<void>;
}

/**
 * The mining engine on the local network's ports (what `pnpm start:miner` does in local mode),
 * with one CPU proof thread. Resolves once `windows` windows were reported.
 */
export async function mineWindows(
  devnet: Devnet,
  signer: HotkeySigner,
  options: { windows: number; workDir: string; logger: Logger },
): Promise<LocalMinerRun> {
  const parts = await localMiningParts(devnet, {
    signer,
    logger: options.logger,
    workDir: options.workDir,
    settings: { groupsPerBatch: 1, safetyBlocks: 3, retryDelayMs: 500 },
    proofThreads: 1,
    fileWriter: "inline",
    python: TEST_PYTHON,
  });
  const engine = new MiningEngine(parts.deps);
  seedBlockTime(engine.budget, devnet.chain.blockTimeMs);
  const reports: WindowReport[] = [];
  const enough = new Promise<void>((resolve) => {
    engine.onWindow((r) => {
      reports.push(r);
      if (reports.length >= options.windows) resolve();
    });
  });
  const loop = engine.runLoop();
  const stop = async () => {
    engine.stop("test done");
    await loop.catch(() => undefined);
    await parts.close();
  };
  try {
    await Promise.race([enough, loop.then(() => Promise.reject(new Error("mining loop ended early")))]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { reports, stop };
}

/** The interpreter of the local miner's and validator's sandbox: the test run's GRAIL_PYTHON, else python3. */
export const TEST_PYTHON = process.env.GRAIL_PYTHON || "python3";
