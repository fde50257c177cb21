import { existsSync } from "node:fs";
import { generationGpuRange, parallelism } from "./gpu.js";
import { describeMonitoring } from "./monitoring.js";
import { type GroupName, SCHEMA } from "./schema.js";
import type { MinerConfig } from "./types.js";
import { hotkeyFile } from "./warnings.js";

/**
 * Printable lines of the resolved configuration: every variable with its value and where it came
 * from, grouped, then the values derived from them. Secrets print as [redacted].
 */
export function describeConfig(cfg: MinerConfig): string[] {
  const lines: string[] = [];
  lines.push(
    cfg.origin.envFile
      ? `configuration from ${cfg.origin.envFile} and the environment (.env values win)`
      : "configuration from the environment (no .env file found)",
  );
  const width = Math.max(...Object.keys(cfg.origin.settings).map((v) => v.length));
  for (const group of Object.keys(SCHEMA) as GroupName[]) {
    lines.push(`[${group}]`);
    for (const [variable, o] of Object.entries(cfg.origin.settings)) {
      if (o.group !== group) continue;
      const source = o.source === "default" ? "" : `  (${o.source})`;
      lines.push(`  ${variable.padEnd(width)}  ${o.display}${source}`);
    }
  }
  const { chain, pipeline, paths, storage } = cfg;
  lines.push("[resolved]");
  lines.push(
    `  chain: ${chain.embeddedDevnet ? "embedded local network" : `${chain.network} at ${chain.endpoint}`}, netuid ${chain.netuid}, drand ${chain.useDrand ? "on" : "off"}`,
  );
  lines.push(`  wallet: ${hotkeyFile(cfg.wallet)}`);
  lines.push(
    `  storage: ${storage.bucketId ?? "(no bucket)"} via ${storage.endpointUrl ?? (storage.accountId ? `https://${storage.accountId}.r2.cloudflarestorage.com` : "(no endpoint)")}`,
  );
  const generation = generationGpuRange(pipeline);
  lines.push(
    `  GPUs: generation ${pipeline.backend} ${parallelism(pipeline)} on [${generation.join(",")}], proof [${pipeline.proofGpus.join(",")}]${pipeline.cudaVisibleDevices ? ` of CUDA_VISIBLE_DEVICES=${pipeline.cudaVisibleDevices.join(",")}` : ""}`,
  );
  lines.push(`  monitoring: ${describeMonitoring(cfg.monitoring)}`);
  lines.push(`  checkpoints: ${paths.checkpointDir}`);
  lines.push(`  spool: ${paths.spoolDir}`);
  lines.push(
    `  log: verbosity ${cfg.logging.verbosity}${cfg.logging.file ? `, file ${cfg.logging.file.path}` : ""}`,
  );
  return lines;
}

/** One thing a run on a real network needs and this configuration lacks. */
export interface MainnetGap {
  /** The variables to set. */
  readonly variables: readonly string[];
  readonly reason: string;
}

/**
 * What a run on a real network (finney or test) lacks: a real network, the subnet id, the hotkey
 * file, the R2 account, bucket and both key pairs. Empty when nothing is missing.
 */
export function missingForMainnet(
  cfg: MinerConfig,
  fileExists: (file: string) => boolean = existsSync,
): MainnetGap[] {
  const gaps: MainnetGap[] = [];
  const source = (v: string) => cfg.origin.settings[v]?.source ?? "default";
  if (cfg.chain.embeddedDevnet) {
    gaps.push({
      variables: ["BT_NETWORK"],
      reason:
        "the embedded local network is selected; set BT_NETWORK=finney (mainnet) or test, or BT_CHAIN_ENDPOINT",
    });
  }
  if (source("BT_NETUID") === "default" && source("NETUID") === "default") {
    gaps.push({
      variables: ["NETUID"],
      reason: `no subnet id is set (the fallback is ${cfg.chain.netuid}); set NETUID to the subnet the hotkey is registered on`,
    });
  }
  const hotkey = hotkeyFile(cfg.wallet);
  if (!fileExists(hotkey)) {
    gaps.push({
      variables: ["BT_WALLET_COLD", "BT_WALLET_HOT", "BT_WALLET_PATH"],
      reason: `no hotkey file at ${hotkey}; create and register the hotkey (btcli wallet new_hotkey, btcli subnet register) or point the variables at it`,
    });
  }
  const { storage } = cfg;
  if (storage.accountId === null) gaps.push({ variables: ["R2_ACCOUNT_ID"], reason: "no R2 account id" });
  if (storage.bucketId === null) {
    gaps.push({ variables: ["R2_BUCKET_ID"], reason: "no bucket; create one named like the account id" });
  }
  if (storage.read === null) {
    gaps.push({
      variables: ["R2_READ_ACCESS_KEY_ID", "R2_READ_SECRET_ACCESS_KEY"],
      reason:
        "no read-only key pair; validators fetch windows with the read pair the miner commits on chain (the write pair is never published)",
    });
  }
  if (storage.write === null) {
    gaps.push({
      variables: ["R2_WRITE_ACCESS_KEY_ID", "R2_WRITE_SECRET_ACCESS_KEY"],
      reason: "no write key pair to upload window files with",
    });
  }
  return gaps;
}
