import path from "node:path";
import { expandHome, type HotkeySigner, loadHotkey } from "@grail/chain";
import type { MinerConfig } from "@grail/config";
import { devnetHotkey, devnetValidator, localMiningParts, seedBlockTime, startDevnet } from "@grail/devnet";
import { DatasetProvisionError } from "@grail/environments";
import type { Logger } from "@grail/log";
import { MiningEngine, type WindowReport } from "@grail/pipeline";
import { formatReport, verdictLine } from "@grail/validator";
import { provisionOptions } from "./datasets.js";
import {
  attachOperatorControls,
  EXIT_FAILURE,
  EXIT_OK,
  type MinerOverrides,
  progressStreamOf,
  proofPoolSettings,
} from "./miner.js";

const BANNER = [
  "================================================================================",
  " LOCAL NETWORK — no real chain is configured (BT_NETWORK=local, no BT_CHAIN_ENDPOINT).",
  " Mining against an embedded local network: the subtensor runtime under chopsticks, an S3 store",
  " on 127.0.0.1 and a trainer publishing a tiny model. Nothing leaves this machine, nothing earns.",
  " Each window is checked by the local validator. Set BT_NETWORK (and R2_*, wallet) to mine for real.",
  "================================================================================",
];

/** The configured hotkey when its wallet loads, else the local network's throwaway one. */
async function localHotkey(
  cfg: MinerConfig,
  log: Logger,
  walletEnv: NodeJS.ProcessEnv,
): Promise<HotkeySigner> {
  try {
    const { signer } = await loadHotkey({
      walletRoot: cfg.wallet.path,
      walletName: cfg.wallet.coldkey,
      hotkeyName: cfg.wallet.hotkey,
      env: walletEnv,
    });
    return signer;
  } catch (err) {
    const signer = await devnetHotkey("miner");
    log.notice("no usable wallet; the local network's throwaway hotkey signs", {
      wallet: path.join(expandHome(cfg.wallet.path), cfg.wallet.coldkey),
      reason: (err as Error).message,
      hotkey: signer.ss58,
    });
    return signer;
  }
}

/**
 * `pnpm start:miner` in local mode: starts the embedded local network, mines on it with the real
 * mining engine, and validates every uploaded window with the local validator, printing each
 * verdict. Stops after GRAIL_DEVNET_WINDOWS windows (default: until stopped) and exits 1 as soon
 * as a window fails (a hard check, or a soft check over its ban count). With
 * GRAIL_DEVNET_DATASETS=real the datasets are provisioned into the cache root first, as a real start does.
 */
export async function runLocalNetwork(
  cfg: MinerConfig,
  log: Logger,
  out: NodeJS.WritableStream,
  walletEnv: NodeJS.ProcessEnv,
  overrides: MinerOverrides = {},
): Promise<number> {
  const print = (line: string) => out.write(`${line}\n`);
  const windows = cfg.chain.devnetWindows;
  const blockTimeMs = Math.round(cfg.chain.devnetBlockTimeSeconds * 1000);
  for (const line of BANNER) print(line);
  log.notice("starting the local network", { blockTimeMs, windows: windows || "until stopped" });

  const cleanups: (() => Promise<unknown>)[] = [];
  let failed = false;
  try {
    const signer = await localHotkey(cfg, log, walletEnv);
    const root = path.join(cfg.paths.cacheDir, "devnet");
    const devnet = await startDevnet({
      blockTimeMs,
      cacheDir: root,
      chain: cfg.chain.devnetChain,
      ...(cfg.chain.devnetChainSpec ? { chainSpec: cfg.chain.devnetChainSpec } : {}),
      minerHotkeys: [signer.ss58],
      ...(overrides.datasets
        ? { datasets: overrides.datasets }
        : cfg.chain.devnetDatasets === "real"
          ? {
              datasets: { real: provisionOptions(cfg, cfg.paths.cacheDir, log, progressStreamOf(overrides)) },
            }
          : {}),
      log: (message, fields) => log.info(message, { component: "devnet", ...fields }),
    });
    cleanups.push(() => devnet.close());
    if (devnet.chainFallback) {
      print(
        `local network: the subtensor runtime could not start (${devnet.chainFallback}); running the embedded chain`,
      );
    }
    print(
      `local network: ${devnet.chain.kind} chain (netuid ${devnet.chain.netuid}, ${blockTimeMs / 1000} s blocks), store ${devnet.store.endpointUrl}, ` +
        `env ${devnet.task.envId} (${devnet.datasetsSource} problems${devnet.datasetsSource === "real" ? ` from ${devnet.datasets.source.description}` : ""}), ${devnet.backend.toUpperCase()} engine, hotkey ${signer.ss58}`,
    );

    const parts = await localMiningParts(devnet, {
      signer,
      logger: log,
      workDir: path.join(root, "miner"),
      python: cfg.pipeline.python,
      settings: {
        groupsPerBatch: cfg.pipeline.groupsPerBatch,
        safetyBlocks: cfg.pipeline.safetyBlocks,
        ...overrides.engine,
      },
      // PROOF_SUBPROCESS picks worker processes here as on a real network (default: one thread).
      pool: {
        ...(cfg.pipeline.proofSubprocess ? { topology: "subprocess" } : {}),
        ...proofPoolSettings(cfg),
        ...overrides.pool,
      },
    });
    cleanups.push(() => parts.close());
    const engine = new MiningEngine(parts.deps);
    seedBlockTime(engine.budget, blockTimeMs);

    // One validator, one window at a time, beside the miner (which stops once the last window is in).
    const checker = devnetValidator(devnet, {
      cacheRoot: path.join(root, "validator"),
      python: cfg.pipeline.python,
    });
    cleanups.push(() => checker.close());
    let verdicts = 0;
    let queue: Promise<void> = Promise.resolve();
    const judge = async (report: WindowReport) => {
      // Windows sealed after the last verdict that counts (the one in progress at stop) are not judged.
      if (failed || (windows > 0 && verdicts >= windows)) return;
      const upload = report.upload?.retrying ? await report.upload.final : report.upload;
      if (!upload) {
        print(`window ${report.windowStart}: no rollouts to validate`);
      } else {
        const verdict = await checker.validator.validate(signer.ss58, report.windowStart);
        print(verdictLine(verdict));
        if (verdict.verdict !== "pass") {
          failed = true;
          print(formatReport(verdict));
          engine.stop(`window ${report.windowStart} failed the local validator`);
          return;
        }
      }
      verdicts += 1;
    };
    let reported = 0;
    engine.onWindow((report) => {
      // The last window's verdict needs no further mining: stop now and leave it the CPU.
      reported += 1;
      if (windows > 0 && reported >= windows)
        engine.stop(`mined ${windows} window${windows === 1 ? "" : "s"}`);
      queue = queue.then(() =>
        judge(report).catch((err: Error) => {
          failed = true;
          log.error("the local validator could not run", { window: report.windowStart, error: err.message });
          engine.stop("local validator error");
        }),
      );
    });

    attachOperatorControls(engine, overrides, cleanups, log);

    await engine.runLoop();
    await queue;
    return failed ? EXIT_FAILURE : EXIT_OK;
  } catch (err) {
    if (err instanceof DatasetProvisionError) log.error(err.message, { ...err.context });
    else log.error("local network failed", { error: (err as Error).message, stack: (err as Error).stack });
    return EXIT_FAILURE;
  } finally {
    for (const c of cleanups.reverse()) {
      await c().catch((e: unknown) => log.warn("shutdown step failed", { error: String(e) }));
    }
  }
}
