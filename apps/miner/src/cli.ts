import {
  ConfigError,
  checkGpuLayout,
  describeConfig,
  FLASH_ATTN_REFUSAL,
  loadConfig,
  type MinerConfig,
  missingForMainnet,
} from "@grail/config";
import { createLogger, type Logger } from "@grail/log";
import { ProtocolViolationError } from "@grail/protocol";
import { visibleGpus } from "./gpus.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** Invalid configuration or GPU layout: fix the settings and start again. */
export const EXIT_CONFIG = 2;

export const USAGE = `Usage: pnpm start:miner [-- options]      (or: node apps/miner/dist/main.js [options])

Options:
  -v, -vv, --verbose   more log output: -v info, -vv debug (default: warnings and lifecycle lines)
  --no-drand           window randomness from the block hash only (default mixes in drand; GRAIL_DRAND)
  --use-drand          mix the drand beacon into window randomness
  -h, --help           print this text

Settings come from a .env file (looked up from the working directory to the workspace root) and
the environment; values in .env win over exported variables. .env.example documents every one.
With nothing configured the miner uses the embedded local network.

Exit status: 0 done, 2 invalid configuration or GPU layout, 1 unexpected failure.
`;

export interface MinerIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/**
 * The miner's entry: loads and checks the configuration, prints it (secrets redacted) and what is
 * missing to mine. The window loop is not wired in yet, so it stops there. Returns the exit status.
 */
export async function runMiner(argv: readonly string[], io: MinerIo): Promise<number> {
  const print = (line = "") => io.stdout.write(`${line}\n`);
  if (argv.includes("-h") || argv.includes("--help")) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }

  let cfg: MinerConfig;
  try {
    cfg = loadConfig({ env: io.env, argv, cwd: io.cwd });
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
    return await report(cfg, log, print, io.stderr);
  } finally {
    await log.close();
  }
}

async function report(
  cfg: MinerConfig,
  log: Logger,
  print: (line?: string) => void,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  log.notice("miner starting", {
    network: cfg.chain.embeddedDevnet ? "embedded local network" : cfg.chain.network,
    netuid: cfg.chain.netuid,
    wallet: cfg.wallet.coldkey,
    hotkey: cfg.wallet.hotkey,
  });
  for (const line of describeConfig(cfg)) print(line);
  print();

  const gpus = await visibleGpus(cfg.pipeline.cudaVisibleDevices);
  log.info("visible GPUs", { count: gpus.count, from: gpus.how });
  if (gpus.count === null) {
    if (cfg.pipeline.proofFlashAttn) {
      stderr.write(`${FLASH_ATTN_REFUSAL}\n`);
      return EXIT_CONFIG;
    }
    print(`GPU layout: not checked (${gpus.how}); set CUDA_VISIBLE_DEVICES to check it`);
  } else {
    try {
      const layout = checkGpuLayout(cfg.pipeline, gpus.count);
      print(`GPU layout: ${layout.summary} (from ${gpus.how})`);
    } catch (err) {
      if (!(err instanceof ProtocolViolationError)) throw err;
      stderr.write(`${err.message}\n`);
      log.error("GPU layout rejected", { details: err.details });
      return EXIT_CONFIG;
    }
  }
  print();

  const gaps = missingForMainnet(cfg);
  if (gaps.length === 0) {
    print("Nothing is missing for a real-network run.");
  } else {
    print("Missing for a real-network run:");
    for (const gap of gaps) print(`  - ${gap.variables.join(", ")}: ${gap.reason}`);
  }
  print();
  if (cfg.chain.embeddedDevnet) {
    print("The local network is not built yet: nothing to mine against.");
  } else {
    print(
      `This version checks the configuration only: the window loop that mines on ${cfg.chain.network} is not built yet.`,
    );
  }
  log.notice("configuration checked; stopping", { missing: gaps.length });
  return EXIT_OK;
}
