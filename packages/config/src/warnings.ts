import { statSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import path from "node:path";
import { metricsAddress } from "./monitoring.js";
import type { MinerConfig, WalletConfig } from "./types.js";
import { ignoredVariablesWarning, type UnknownVariable, unknownVariableWarning } from "./unknown.js";

/** Something the miner runs with but an operator most likely did not mean. */
export interface ConfigWarning {
  /** The variables involved. */
  readonly variables: readonly string[];
  readonly message: string;
}

/** The hotkey file the wallet settings point at. */
export function hotkeyFile(wallet: WalletConfig): string {
  return path.join(wallet.path, wallet.coldkey, "hotkeys", wallet.hotkey);
}

/** A file's mode, or null when it cannot be read (missing: missingForMainnet reports that). */
function fileModeOf(file: string): number | null {
  try {
    return statSync(file).mode;
  } catch {
    return null;
  }
}

/**
 * What the configuration runs with but should not: variables that look like settings and are none
 * (with the nearest setting's name) or that this miner ignores (with the reason, one line per
 * reason), W&B monitoring that cannot log, the metrics endpoint bound beyond loopback, and a hotkey
 * file other users can read or change. The miner prints these at every start and with --check.
 */
export function configWarnings(
  cfg: MinerConfig,
  fileMode: (file: string) => number | null = fileModeOf,
): ConfigWarning[] {
  const warnings = unknownVariableWarnings(cfg.origin.unknown);
  warnings.push(...wandbWarnings(cfg));
  const { backend, prometheus } = cfg.monitoring;
  if (backend !== "null" && !isLoopback(prometheus.host)) {
    warnings.push({
      variables: ["GRAIL_PROMETHEUS_HOST"],
      message:
        `GRAIL_PROMETHEUS_HOST=${prometheus.host} serves /metrics and /healthz beyond this machine (loopback is 127.0.0.0/8, ::1 and localhost); ` +
        `bind 127.0.0.1 unless a firewall or a loopback-only port mapping (as docker/docker-compose.yml publishes 127.0.0.1:${prometheus.port}) keeps others out`,
    });
  }
  const file = hotkeyFile(cfg.wallet);
  const mode = fileMode(file);
  if (mode !== null && (mode & 0o077) !== 0) {
    const readable = (mode & 0o044) !== 0;
    const writable = (mode & 0o022) !== 0;
    const access =
      readable && writable
        ? "readable and writable"
        : readable
          ? "readable"
          : writable
            ? "writable"
            : "usable";
    const octal = (mode & 0o7777).toString(8).padStart(4, "0");
    warnings.push({
      variables: ["BT_WALLET_COLD", "BT_WALLET_HOT", "BT_WALLET_PATH"],
      message: `hotkey file ${file} is ${access} by other users (mode ${octal}); restrict it to its owner: chmod 600 ${file}`,
    });
  }
  return warnings;
}

/** Spelling hints one per variable; ignored variables grouped by where they come from and why. */
function unknownVariableWarnings(unknown: readonly UnknownVariable[]): ConfigWarning[] {
  const entries: { u: UnknownVariable; variables: string[] }[] = [];
  const byReason = new Map<string, string[]>();
  for (const u of unknown) {
    const key = u.ignored === null ? null : `${u.source}\n${u.ignored}`;
    const grouped = key === null ? undefined : byReason.get(key);
    if (grouped) {
      grouped.push(u.variable);
      continue;
    }
    const variables = [u.variable];
    if (key !== null) byReason.set(key, variables);
    entries.push({ u, variables });
  }
  return entries.map(({ u, variables }) => ({
    variables,
    message:
      u.ignored === null
        ? unknownVariableWarning(u)
        : ignoredVariablesWarning(variables, u.source, u.ignored),
  }));
}

/** GRAIL_MONITORING_BACKEND=wandb where nothing can reach W&B: the metrics go to Prometheus only. */
function wandbWarnings(cfg: MinerConfig): ConfigWarning[] {
  const { backend, wandb } = cfg.monitoring;
  if (backend !== "wandb") return [];
  const instead = `the metrics are served for Prometheus on ${metricsAddress(cfg.monitoring)}/metrics instead`;
  if (wandb.mode === "offline") {
    return [
      {
        variables: ["WANDB_MODE"],
        message: `WANDB_MODE=offline is not available: @wandb/sdk, the W&B client for Node.js, keeps no offline run for wandb sync; nothing is logged to W&B and ${instead}. Use WANDB_MODE=online with WANDB_API_KEY, or GRAIL_MONITORING_BACKEND=prometheus`,
      },
    ];
  }
  if (wandb.mode === "online" && wandb.apiKey === null) {
    return [
      {
        variables: ["GRAIL_MONITORING_BACKEND", "WANDB_API_KEY"],
        message: `GRAIL_MONITORING_BACKEND=wandb without WANDB_API_KEY: nothing is logged to W&B; ${instead}. Set WANDB_API_KEY (from https://wandb.ai/authorize) to log to W&B, or GRAIL_MONITORING_BACKEND=prometheus to keep this`,
      },
    ];
  }
  return [];
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** 127.0.0.0/8, ::1 (also bracketed or IPv4-mapped) and localhost. Any other name may resolve anywhere. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
  if (h === "localhost") return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? "ipv4" : "ipv6");
}
