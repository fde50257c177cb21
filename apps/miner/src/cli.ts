import {
  ConfigError,
  checkGpuLayout,
  configWarnings,
  describeConfig,
  type GpuLayout,
  loadConfig,
  type MinerConfig,
  missingForMainnet,
} from "@grail/config";
import type { ProofMemoryReport } from "@grail/generation";
import { createLogger, type Logger } from "@grail/log";
import { ProtocolViolationError } from "@grail/protocol";
import { proofColocation } from "./colocation.js";
import { datasetLines } from "./datasets.js";
import { visibleGpus } from "./gpus.js";
import { checkHotkey } from "./hotkey-check.js";
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, type MinerOverrides, runMining } from "./miner.js";
import { chooseProofBackend, ProofBackendError } from "./proof-backend.js";

export { EXIT_CONFIG, EXIT_FAILURE, EXIT_OK };

export const USAGE = `Usage: pnpm start:miner [-- options]      (or: node apps/miner/dist/main.js [options])

Options:
  -v, -vv, --verbose   more log output: -v info, -vv debug (default: warnings and lifecycle lines)
  --no-drand           window randomness from the block hash only (default mixes in drand; GRAIL_DRAND)
  --use-drand          mix the drand beacon into window randomness
  --check              print the configuration, warnings, the datasets' state and what is missing
                       (the hotkey is loaded as a start would), then stop without mining
  --dry-run            on a real network, do everything but write to the chain or the bucket: the
                       registration and commitment are only read, the first window with rollouts is
                       written to <GRAIL_CACHE_DIR>/dry-run/bucket and checked by the local
                       validator, then the miner stops (exit 0 when the window passes, 1 otherwise)
  -h, --help           print this text

Settings come from a .env file (looked up from the working directory to the workspace root) and
the environment; values in .env win over exported variables. .env.example documents every one.
With nothing configured the miner uses the embedded local network and validates every window it
mines (GRAIL_DEVNET_WINDOWS=N stops after N windows; GRAIL_DEVNET_BLOCK_TIME sets its block time).

At start the four datasets are checked and, when missing or corrupt, fetched from HF_ENDPOINT into
<GRAIL_CACHE_DIR>/datasets (partial downloads continue); a start that cannot provision them stops.

On a terminal a progress line shows the window, blocks left, groups per stage, rollouts/s and the
upload state; logs are JSON lines otherwise. SIGINT/SIGTERM finish the window in progress (its file
is uploaded if the deadline allows) and stop; a second signal exits at once.

Exit status: 0 stopped cleanly, 2 invalid configuration or GPU layout, 1 failure (a supervisor
should restart the miner: unregistered hotkey, pipeline start failure, or the watchdog: 5 windows
in a row (GRAIL_WATCHDOG_WINDOWS) ended without an upload, e.g. with every proof GPU lost, or 30
minutes without progress).
A proof GPU whose worker keeps failing is disabled and tried again after 1 min, 5 min, then every
15 min. The generation server stops with the miner, even after kill -9, and a start stops a server
that an earlier miner left running (recorded in <GRAIL_CACHE_DIR>/generation-server.pid).
`;

export interface MinerIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/**
 * The miner's entry: loads and checks the configuration (printing it, secrets redacted, and what is
 * missing), then mines until stopped. `--check` stops after the checks. Returns the exit status.
 */
export async function runMiner(
  argv: readonly string[],
  io: MinerIo,
  overrides: MinerOverrides = {},
): Promise<number> {
  const print = (line = "") => io.stdout.write(`${line}\n`);
  if (argv.includes("-h") || argv.includes("--help")) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }

  let cfg: MinerConfig;
  try {
    cfg = loadConfig({
      env: io.env,
      argv: argv.filter((a) => a !== "--check" && a !== "--dry-run"),
      cwd: io.cwd,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }

  const log = createLogger({
    verbosity: cfg.logging.verbosity,
    stream: io.stderr,
    ...(cfg.logging.format === "auto" ? {} : { json: cfg.logging.format === "json" }),
    file: cfg.logging.file,
  }).child({ component: "miner" });
  try {
    const checking = argv.includes("--check");
    const checked = await report(
      cfg,
      log,
      print,
      io.stderr,
      checking ? { walletEnv: io.env, datasets: await datasetLines(cfg, cfg.paths.cacheDir) } : null,
      overrides.proofMemoryNeed,
    );
    if (checked.code !== null) return checked.code;
    if (checking) {
      log.notice("configuration checked; stopping");
      return EXIT_OK;
    }
    const dryRun = argv.includes("--dry-run");
    // The hotkey's password variable (BT_PW_*) is read from the environment the miner was started with.
    if (cfg.chain.embeddedDevnet) {
      if (dryRun) {
        io.stderr.write(
          "--dry-run is for a real network (set BT_NETWORK or BT_CHAIN_ENDPOINT): the local network never commits or uploads anywhere but this machine\n",
        );
        return EXIT_CONFIG;
      }
      // Loaded only here: a real-network start never loads the local network (chopsticks, s3rver).
      const { runLocalNetwork } = await import("./local-network.js");
      return await runLocalNetwork(cfg, log, io.stdout, io.env, overrides);
    }
    return await runMining(cfg, checked.layout, log, io.env, {
      out: io.stdout,
      ...overrides,
      ...(dryRun ? { dryRun } : {}),
    });
  } finally {
    await log.close();
  }
}

/**
 * Prints the configuration and checks it; `code` is set when the miner must stop here. With
 * `check` (--check) the hotkey is loaded as a start loads it, reading BT_PW_* from `walletEnv`,
 * and the datasets' state is printed.
 */
async function report(
  cfg: MinerConfig,
  log: Logger,
  print: (line?: string) => void,
  stderr: NodeJS.WritableStream,
  check: { walletEnv: NodeJS.ProcessEnv; datasets: readonly string[] } | null,
  proofMemoryNeed: ProofMemoryReport | undefined,
): Promise<{ code: number | null; layout: GpuLayout | null }> {
  let layout: GpuLayout | null = null;
  log.notice("miner starting", {
    network: cfg.chain.embeddedDevnet ? "embedded local network" : cfg.chain.network,
    netuid: cfg.chain.netuid,
    wallet: cfg.wallet.coldkey,
    hotkey: cfg.wallet.hotkey,
  });
  for (const line of describeConfig(cfg)) print(line);
  const forwarded = Object.keys(cfg.origin.forwarded);
  if (forwarded.length > 0) {
    print(`Passed from .env to the generation server and the proof workers: ${forwarded.join(", ")}`);
  }
  print();
  const warnings = configWarnings(cfg);
  if (warnings.length > 0) {
    print("Warnings:");
    for (const w of warnings) {
      print(`  - ${w.message}`);
      log.warn("configuration warning", { variables: w.variables, warning: w.message });
    }
    print();
  }

  const gpus = await visibleGpus(cfg.pipeline.cudaVisibleDevices);
  log.info("visible GPUs", { count: gpus.count, from: gpus.how });
  try {
    // Without a count only the ranges go unchecked: repeats, overlaps and FLASH_ATTN never need it.
    layout = checkGpuLayout(cfg.pipeline, gpus.count);
    print(
      gpus.count === null
        ? `GPU layout: ${layout.summary} (${gpus.how}; set CUDA_VISIBLE_DEVICES to check the indices against the devices)`
        : `GPU layout: ${layout.summary} (from ${gpus.how})`,
    );
  } catch (err) {
    if (!(err instanceof ProtocolViolationError)) throw err;
    stderr.write(`${err.message}\n`);
    log.error("GPU layout rejected", { details: err.context });
    return { code: EXIT_CONFIG, layout };
  }
  const hotkey = check ? await checkHotkey(cfg, check.walletEnv) : null;
  if (hotkey?.status === "loaded") print(`Wallet: ${hotkey.line}`);
  print();
  if (check) {
    for (const line of check.datasets) print(line);
    print();
  }

  const gaps = missingForMainnet(cfg);
  if (hotkey?.status === "broken") gaps.push(hotkey.gap);
  if (!cfg.chain.embeddedDevnet) {
    try {
      print(chooseProofBackend(cfg, layout.proofGpus).summary);
    } catch (err) {
      if (!(err instanceof ProofBackendError)) throw err;
      gaps.push({ variables: ["GRAIL_PIPELINE_PROOF_ALLOW_CPU"], reason: err.message });
    }
    if (proofColocation(cfg, layout.colocatedGpus, proofMemoryNeed)) {
      print(
        `proofs beside generation on GPU ${layout.colocatedGpus.join(",")}: GRAIL_PIPELINE_GPU_MEM_UTIL=${cfg.pipeline.gpuMemUtil} is lowered by the proof engine's memory need when the first checkpoint arrives`,
      );
    }
  }
  if (gaps.length === 0) {
    print("Nothing is missing for a real-network run.");
  } else {
    print("Missing for a real-network run:");
    for (const gap of gaps) print(`  - ${gap.variables.join(", ")}: ${gap.reason}`);
  }
  print();
  if (cfg.chain.embeddedDevnet) {
    print("Local mode: the miner starts the embedded local network and validates every window it mines.");
    return { code: null, layout };
  }
  if (gaps.length > 0) {
    stderr.write(
      `Cannot mine on ${cfg.chain.network}: ${gaps.map((g) => g.variables.join("/")).join(", ")} missing (see above).\n`,
    );
    log.notice("configuration incomplete; stopping", { missing: gaps.length });
    return { code: EXIT_CONFIG, layout };
  }
  return { code: null, layout };
}
