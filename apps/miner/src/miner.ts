import { join } from "node:path";
import {
  DrandClient,
  loadHotkey,
  readSubnetBuckets,
  runMinerChainStartup,
  SubtensorClient,
} from "@grail/chain";
import type { GpuLayout, MinerConfig } from "@grail/config";
import { proofEngineFor } from "@grail/config";
import { DatasetProvisionError } from "@grail/environments";
import { generationLaunchOptions } from "@grail/generation";
import type { Logger } from "@grail/log";
import { type HealthReport, type MetricsServer, type MinerMetrics, startMetricsServer } from "@grail/metrics";
import {
  FatalMiningError,
  MiningEngine,
  type ProofPoolOptions,
  TrainerCheckpoints,
  WATCHDOG_DEFAULTS,
  Watchdog,
  wireMining,
} from "@grail/pipeline";
import { GrailError, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import { createDualClients } from "@grail/storage";
import { miningChain, randomnessSource } from "./adapters.js";
import { type ChainStart, ChainStartError, chainStart, dryRunChainStart } from "./chain-start.js";
import { proofColocation } from "./colocation.js";
import { provisionMiningDatasets } from "./datasets.js";
import { DryRun, dryRunDir } from "./dry-run.js";
import { DEFAULT_HEALTH_SETTINGS, GenerationCalls, MinerHealth } from "./health.js";
import { createMinerMetrics } from "./monitoring.js";
import { attachOperatorControls, progressStreamOf } from "./operator-controls.js";
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, type MinerOverrides } from "./overrides.js";

export { attachOperatorControls, progressStreamOf } from "./operator-controls.js";
export { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, type MinerOverrides, type StartedParts } from "./overrides.js";

import { chooseProofBackend, type ProofBackendChoice, ProofBackendError } from "./proof-backend.js";

export function proofPoolSettings(cfg: MinerConfig): Pick<ProofPoolOptions, "pythonPath" | "engineOptions"> {
  return {
    pythonPath: cfg.pipeline.python,
    engineOptions: { profile: cfg.pipeline.engineProfile, sharePrompts: cfg.pipeline.engineSharePrompts },
  };
}

class StartupError extends GrailError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message, { exitCode });
  }
}

/**
 * Startup (spec/miner-pipeline.md §3.1, fixes of §11) and the window loop until stopped: hotkey,
 * object store clients, chain connection, registration check and credential commitment, then the
 * mining engine, which starts the generation server and the proof workers on the first checkpoint.
 * Returns the process exit status: 0 after a clean stop, 1 when a supervisor should restart it.
 */
export async function runMining(
  cfg: MinerConfig,
  layout: GpuLayout | null,
  log: Logger,
  walletEnv: NodeJS.ProcessEnv,
  overrides: MinerOverrides = {},
): Promise<number> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse())
      await c().catch((e: unknown) => log.warn("shutdown step failed", { error: String(e) }));
  };
  try {
    return await mine(cfg, layout, log, walletEnv, overrides, cleanups);
  } catch (err) {
    if (err instanceof StartupError) {
      log.error(err.message);
      return err.exitCode;
    }
    const code = (err as { exitCode?: unknown }).exitCode;
    log.error("miner failed", { error: (err as Error).message, stack: (err as Error).stack });
    return typeof code === "number" ? code : EXIT_FAILURE;
  } finally {
    await cleanup();
  }
}

async function mine(
  cfg: MinerConfig,
  layout: GpuLayout | null,
  log: Logger,
  walletEnv: NodeJS.ProcessEnv,
  overrides: MinerOverrides,
  cleanups: (() => Promise<unknown>)[],
): Promise<number> {
  const { storage, chain: chainCfg, pipeline } = cfg;
  if (!chainCfg.endpoint)
    throw new StartupError("no chain endpoint: set BT_NETWORK or BT_CHAIN_ENDPOINT", EXIT_CONFIG);
  if (!storage.accountId || !storage.bucketId || !storage.read || !storage.write) {
    throw new StartupError(
      "R2_ACCOUNT_ID, R2_BUCKET_ID and both key pairs are required to mine",
      EXIT_CONFIG,
    );
  }

  const proofGpus = layout?.proofGpus ?? pipeline.proofGpus;
  let proofBackend: ProofBackendChoice;
  try {
    proofBackend = chooseProofBackend(cfg, proofGpus);
  } catch (err) {
    if (err instanceof ProofBackendError) throw new StartupError(err.message, EXIT_CONFIG);
    throw err;
  }
  if (proofBackend.notice) log.warn(proofBackend.notice);
  const colocation = proofColocation(cfg, layout?.colocatedGpus ?? [], overrides.proofMemoryNeed);

  let metrics: MinerMetrics;
  try {
    metrics = createMinerMetrics(cfg, log);
  } catch (err) {
    throw new StartupError((err as Error).message, EXIT_CONFIG);
  }
  cleanups.push(() => metrics.close());
  let metricsServer: MetricsServer | null = null;
  // Healthy while the miner starts (chain, registration, first checkpoint); the engine's health
  // takes over once it exists.
  let health: (() => HealthReport) | null = null;
  if (metrics.backend !== "null") {
    metricsServer = await startMetricsServer({
      metrics,
      host: cfg.monitoring.prometheus.host,
      port: cfg.monitoring.prometheus.port,
      health: () => health?.() ?? { healthy: true, detail: { phase: "starting" } },
    });
    cleanups.push(() => metricsServer!.close());
    log.notice("metrics served", { url: metricsServer.url });
  }

  const { signer } = await loadHotkey({
    walletRoot: cfg.wallet.path,
    walletName: cfg.wallet.coldkey,
    hotkeyName: cfg.wallet.hotkey,
    env: walletEnv,
  }).catch((err: Error) => {
    throw new StartupError(err.message, EXIT_FAILURE);
  });
  log.notice("hotkey loaded", { hotkey: signer.ss58 });

  const location = {
    accountId: storage.accountId,
    bucket: storage.bucketId,
    ...(storage.endpointUrl ? { endpointUrl: storage.endpointUrl } : {}),
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
  };
  const { writer } = createDualClients(
    { ...location, read: { ...storage.read }, write: { ...storage.write } },
    { retry: { attemptTimeoutMs: storage.uploadTimeoutSeconds * 1000 } },
  );
  if (overrides.dryRun) {
    log.notice(
      "dry run: nothing is committed to the chain or uploaded; window files stay in a local directory",
      {
        dir: dryRunDir(cfg.paths.cacheDir),
      },
    );
  }

  const client = await SubtensorClient.connect({
    url: chainCfg.endpoint,
    callPolicy: {
      timeoutMs: chainCfg.callTimeoutSeconds * 1000,
      attempts: chainCfg.callRetries,
      backoffBaseMs: chainCfg.callBackoffSeconds * 1000,
    },
    connectTimeoutMs: chainCfg.initTimeoutSeconds * 1000,
    logger: log.child({ component: "chain" }),
  });
  cleanups.push(() => client.close());

  const credentials = {
    accountId: storage.accountId,
    readAccessKeyId: storage.read.accessKeyId,
    readSecretAccessKey: storage.read.secretAccessKey,
  };
  const chainInput = {
    client,
    signer,
    netuid: chainCfg.netuid,
    credentials,
    hint: { walletName: cfg.wallet.coldkey, hotkeyName: cfg.wallet.hotkey, network: cfg.chain.network },
    log,
  };
  let startup: ChainStart;
  try {
    startup = overrides.dryRun ? await dryRunChainStart(chainInput) : await chainStart(chainInput);
  } catch (err) {
    if (err instanceof ChainStartError) throw new StartupError(err.message, err.exitCode);
    throw err;
  }

  const checkpoints = new TrainerCheckpoints({
    buckets: async () => (await readSubnetBuckets(client, chainCfg.netuid)).byUid,
    netuid: chainCfg.netuid,
    location,
    cacheRoot: cfg.paths.checkpointDir,
    logger: log,
    initial: startup.trainer?.bucket ?? null,
  });
  // Every window builds its problems from these: without them no window may start.
  const datasets =
    overrides.datasets ??
    (await provisionMiningDatasets(cfg, cfg.paths.cacheDir, log, progressStreamOf(overrides)).catch(
      (err: unknown) => {
        throw err instanceof DatasetProvisionError ? new StartupError(err.message, EXIT_FAILURE) : err;
      },
    ));
  const dryRun = overrides.dryRun
    ? new DryRun({
        client,
        checkpoints,
        datasets,
        python: pipeline.python,
        dir: join(dryRunDir(cfg.paths.cacheDir), "bucket"),
        bucket: storage.bucketId,
        hotkey: signer.ss58,
        print: (line) => (overrides.out ?? process.stdout).write(`${line}\n`),
        log,
      })
    : null;
  if (dryRun) cleanups.push(() => dryRun.close());
  const generationCalls = new GenerationCalls();
  const wiring = await wireMining({
    chain: miningChain(client),
    randomness: randomnessSource(
      chainCfg.useDrand ? new DrandClient({ logger: log.child({ component: "drand" }) }) : null,
      log,
    ),
    checkpoints,
    datasets,
    python: pipeline.python,
    upload: dryRun
      ? { writer: dryRun.store, spoolDir: join(dryRunDir(cfg.paths.cacheDir), "spool") }
      : { writer, spoolDir: cfg.paths.spoolDir },
    generation: {
      backend: pipeline.backend,
      launch: generationLaunchOptions(pipeline, cfg.origin.forwarded),
      client: {
        promptsPerRequest: pipeline.groupsPerBatch * ROLLOUTS_PER_PROBLEM,
        maxConcurrentRequests: pipeline.maxConcurrent,
        requestTimeoutMs: pipeline.serverTimeoutSeconds * 1000,
        ...(overrides.generation?.retry ? { retry: overrides.generation.retry } : {}),
      },
      symlinkDir: pipeline.symlinkDir,
      // A start stops a server that an earlier miner, killed with -9, left behind there.
      supervisor: {
        pidFile: join(cfg.paths.cacheDir, "generation-server.pid"),
        ...overrides.generation?.supervisor,
      },
      ...(overrides.generation?.weightSyncTimeoutMs
        ? { weightSyncTimeoutMs: overrides.generation.weightSyncTimeoutMs }
        : {}),
    },
    ...(colocation ? { colocation } : {}),
    pool: {
      gpus: proofGpus,
      topology: pipeline.proofSubprocess || proofGpus.length > 1 ? "subprocess" : "in-process",
      engine: pipeline.proofEngine.default,
      engineByGpu: Object.fromEntries(proofGpus.map((g) => [g, proofEngineFor(pipeline.proofEngine, g)])),
      cudaVisibleDevices: pipeline.cudaVisibleDevices === null ? null : pipeline.cudaVisibleDevices.join(","),
      verbosity: cfg.logging.verbosity,
      env: { ...process.env, ...cfg.origin.forwarded },
      ...(proofBackend.backend ? { backend: proofBackend.backend } : {}),
      ...proofPoolSettings(cfg),
      ...overrides.pool,
    },
    trackGeneration: (port) => generationCalls.track(port),
    signer,
    metrics,
    logger: log,
    settings: {
      groupsPerBatch: pipeline.groupsPerBatch,
      safetyBlocks: pipeline.safetyBlocks,
      ...overrides.engine,
    },
  });
  cleanups.push(() => wiring.close());
  const { deps, sink } = wiring;

  const engine = new MiningEngine(deps);
  const watchdog = new Watchdog({
    timeoutMs: overrides.watchdogTimeoutMs ?? WATCHDOG_DEFAULTS.timeoutMs,
    checkIntervalMs: Math.min(WATCHDOG_DEFAULTS.checkIntervalMs, overrides.watchdogTimeoutMs ?? Infinity),
    maxWindowsWithoutUpload: overrides.watchdogWindows ?? pipeline.watchdogWindows,
    onStall: (stall) => {
      log.error(`watchdog: ${stall.message}; stopping and exiting 1 for a restart`, { ...stall });
      // runLoop rejects with it once the window in progress is published: exit status 1.
      engine.fail(new FatalMiningError(`watchdog: ${stall.message}`, { ...stall }));
      setTimeout(() => process.exit(EXIT_FAILURE), 10_000).unref();
    },
  }).start();
  deps.progress = watchdog;
  cleanups.push(async () => watchdog.stop());

  const minerHealth = new MinerHealth(
    {
      progress: () => engine.progress(),
      pool: () => wiring.backends()?.pool.health() ?? null,
      generationState: () => wiring.backends()?.generation.process.state ?? null,
      generationCalls,
      silentForMs: () => watchdog.silentForMs,
      blockSeconds: () => engine.budget.blockSeconds,
    },
    { ...DEFAULT_HEALTH_SETTINGS, ...overrides.health },
  );
  const unwatchHealth = minerHealth.watch(engine);
  cleanups.push(async () => unwatchHealth());
  health = () => minerHealth.report();

  // A rate-limited credential commitment is retried after each window until it lands.
  let commitment = startup.commitment;
  engine.onWindow(() => {
    if (commitment?.status !== "rate-limited") return;
    void runMinerChainStartup({
      client,
      signer,
      netuid: chainCfg.netuid,
      credentials: {
        accountId: storage.accountId!,
        readAccessKeyId: storage.read!.accessKeyId,
        readSecretAccessKey: storage.read!.secretAccessKey,
      },
    }).then(
      (s) => {
        commitment = s.commitment;
        if (commitment.status !== "rate-limited")
          log.notice("credential commitment", { status: commitment.status });
      },
      (err: Error) => log.warn("credential commitment retry failed", { error: err.message }),
    );
  });

  attachOperatorControls(engine, overrides, cleanups, log);

  overrides.onStarted?.(engine, {
    client,
    metrics,
    sink,
    hotkey: signer.ss58,
    uid: startup.uid,
    backends: wiring.backends,
  });
  dryRun?.attach(engine);
  await engine.runLoop();
  return dryRun ? dryRun.exitCode : EXIT_OK;
}
