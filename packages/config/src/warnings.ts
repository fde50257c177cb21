import { statSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import path from "node:path";
import type { MinerConfig, WalletConfig } from "./types.js";
import { unknownVariableWarning } from "./unknown.js";

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
 * (with the nearest setting's name), the metrics endpoint bound beyond loopback, and a hotkey file
 * other users can read or change. The miner prints these at every start and with --check.
 */
export function configWarnings(
  cfg: MinerConfig,
  fileMode: (file: string) => number | null = fileModeOf,
): ConfigWarning[] {
  const warnings: ConfigWarning[] = cfg.origin.unknown.map((u) => ({
    variables: [u.variable],
    message: unknownVariableWarning(u),
  }));
  const { backend, prometheus } = cfg.monitoring;
  if (backend === "prometheus" && !isLoopback(prometheus.host)) {
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
