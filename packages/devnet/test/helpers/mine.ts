import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import type { HotkeySigner } from "@grail/chain";
import { ChatTokenizer } from "@grail/generation";
import { createLogger, type Logger } from "@grail/log";
import { createMetrics } from "@grail/metrics";
import { MiningEngine, SpoolingWindowSink, WindowFileWriter, type WindowReport } from "@grail/pipeline";
import { createDualClients, WindowUploader } from "@grail/storage";
import {
  type Devnet,
  LocalEnvironments,
  localBackends,
  localRandomness,
  seedBlockTime,
  TrainerCheckpoints,
  withIntegerDeadlines,
} from "../../src/index.js";

export const repoRoot = path.resolve(fileURLToPath(new URL("../../../..", import.meta.url)));

/** The built proof worker (`pnpm test` builds every package first). */
export const workerEntryPoints = {
  main: path.join(repoRoot, "apps/worker/dist/main.js"),
  thread: path.join(repoRoot, "apps/worker/dist/thread.js"),
  torch: path.join(repoRoot, "apps/worker/python/torch_worker.py"),
};

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
 * The mining engine wired to the local network the way `pnpm start:miner` wires it in local mode:
 * the devnet's chain and trainer checkpoints, the native generation server and an in-process CPU
 * proof worker, uploads to the miner bucket. Resolves once `windows` windows were reported.
 */
export async function mineWindows(
  devnet: Devnet,
  signer: HotkeySigner,
  options: { windows: number; workDir: string; logger: Logger },
): Promise<LocalMinerRun> {
  const { logger, workDir } = options;
  const bucket = devnet.buckets.miner;
  await devnet.chain.commitCredentials(signer, {
    accountId: bucket.accountId,
    readAccessKeyId: bucket.read.accessKeyId,
    readSecretAccessKey: bucket.read.secretAccessKey,
  });
  const { writer } = createDualClients({
    accountId: bucket.accountId,
    bucket: bucket.name,
    ...devnet.storeLocation,
    read: bucket.read,
    write: bucket.write,
  });
  const spoolDir = path.join(workDir, "spool");
  await mkdir(spoolDir, { recursive: true });
  const fileWriter = WindowFileWriter.create("inline");
  const sink = new SpoolingWindowSink({
    writer: fileWriter,
    uploader: new WindowUploader({ writer, spoolDir }),
    logger,
  });
  const backends = localBackends({
    generation: devnet.generation,
    backend: devnet.backend,
    signer,
    entryPoints: workerEntryPoints,
    logger,
    groupsPerBatch: 1,
    proofThreads: 1,
  });
  const environments = new LocalEnvironments(devnet.datasets);
  const engine = new MiningEngine({
    chain: devnet.chain,
    randomness: localRandomness(),
    checkpoints: new TrainerCheckpoints({
      chain: devnet.chain,
      location: devnet.storeLocation,
      cacheRoot: path.join(workDir, "miner-checkpoints"),
    }),
    startBackends: backends.start,
    loadTokenizer: (dir) => ChatTokenizer.fromDir(dir),
    environments: environments.factory,
    sink: withIntegerDeadlines(sink),
    signer,
    metrics: createMetrics({ backend: "null" }),
    logger,
    settings: { groupsPerBatch: 1, safetyBlocks: 3, retryDelayMs: 500 },
  });
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
    await sink.close();
    await fileWriter.close();
    await backends.stop();
    await environments.close();
  };
  try {
    await Promise.race([enough, loop.then(() => Promise.reject(new Error("mining loop ended early")))]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { reports, stop };
}
