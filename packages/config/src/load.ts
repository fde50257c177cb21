import { homedir } from "node:os";
import path from "node:path";
import { isVerbosityFlag, parseVerbosity, REDACTED, registerSecret, SecretRegistry } from "@grail/log";
import type convictTypes from "convict";
import convict from "./convict.js";
import { findEnvFile, readEnvFile } from "./env-file.js";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { allowedText, registerFormats, SettingRejected, validateSetting } from "./formats.js";
import { formatByteSize, formatProofEngine, type ProofEngineChoice } from "./parse.js";
import {
  DEFAULT_NETUID,
  type GroupName,
  type RawValues,
  SCHEMA,
  type Setting,
  settingEntries,
} from "./schema.js";
import type { ConfigOrigin, MinerConfig, Network, SettingOrigin, SettingSource } from "./types.js";
import { forwardedVariables, unknownVariables } from "./unknown.js";

export interface LoadConfigOptions {
  /** The process environment. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The `.env` file: a path (an error when missing), null to read none, or undefined to look for
   * `.env` from `cwd` up to the workspace root. Its values override `env`, as in the reference
   * (python-dotenv with override=True): a value in `.env` beats an exported variable.
   */
  envFile?: string | null;
  /**
   * Command-line arguments: `-v`/`-vv`/`--verbose` (verbosity), `--no-drand` / `--use-drand`
   * (win over GRAIL_DRAND). `-h`/`--help` are accepted and left to the caller. Anything else is an error.
   */
  argv?: readonly string[];
  /** Directory relative paths and `.env` discovery start from. Default: process.cwd(). */
  cwd?: string;
  /** What `~` expands to. Default: HOME from env, else the OS home directory. */
  homeDir?: string;
  /** Register secret values with the process-wide log redaction (default true). */
  registerSecrets?: boolean;
}

/** Websocket endpoints of the public networks (bittensor SDK settings). */
export const NETWORK_ENDPOINTS: Readonly<Record<Exclude<Network, "local" | "custom">, string>> = {
  finney: "wss://entrypoint-finney.opentensor.ai:443",
  test: "wss://test.finney.opentensor.ai:443",
};

const KNOWN_FLAGS = "-v, -vv, --verbose, --no-drand, --use-drand, --check, --dry-run, --help";
/** An empty CUDA_VISIBLE_DEVICES hides every GPU; for every other variable empty means "use the default". */
const EMPTY_IS_A_VALUE = new Set(["CUDA_VISIBLE_DEVICES"]);

/**
 * Reads every setting from `.env` and the environment (and the few command-line flags), validates
 * all of them and returns one frozen, typed MinerConfig. Throws ConfigError listing every invalid
 * variable at once; secret values never appear in it.
 */
export function loadConfig(options: LoadConfigOptions = {}): MinerConfig {
  registerFormats();
  const env = options.env ?? process.env;
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const home = options.homeDir ?? env.HOME ?? homedir();
  const issues: ConfigIssue[] = [];

  const envFile =
    options.envFile === undefined
      ? findEnvFile(cwd)
      : options.envFile === null
        ? null
        : path.resolve(cwd, options.envFile);
  let fileVars: Record<string, string> = {};
  if (envFile) {
    try {
      fileVars = readEnvFile(envFile);
    } catch (err) {
      issues.push({
        variable: ".env file",
        value: envFile,
        source: "command line",
        problem: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        allowed: "a readable file of VARIABLE=value lines",
      });
    }
  }
  const merged: Record<string, string | undefined> = { ...env, ...fileVars };
  const entries = settingEntries();

  // Secrets are registered before anything is validated, so even a failed start cannot log them.
  const localSecrets = new SecretRegistry();
  for (const { setting } of entries) {
    const value = merged[setting.env];
    if (setting.sensitive && value) {
      localSecrets.register(value);
      if (options.registerSecrets !== false) registerSecret(value);
    }
  }

  const sourceOf = (variable: string): SettingSource => {
    const fromFile = fileVars[variable];
    if (fromFile !== undefined)
      return fromFile === "" && !EMPTY_IS_A_VALUE.has(variable) ? "default" : ".env";
    const fromEnv = env[variable];
    if (fromEnv === undefined || (fromEnv === "" && !EMPTY_IS_A_VALUE.has(variable))) return "default";
    return "environment";
  };
  const convictEnv: Record<string, string> = {};
  for (const { setting } of entries) {
    if (sourceOf(setting.env) !== "default") convictEnv[setting.env] = merged[setting.env]!;
  }

  const conf = convict(SCHEMA as unknown as convictTypes.Schema<RawValues>, { env: convictEnv, args: [] });
  const sources = new Map<string, SettingSource>(
    entries.map(({ setting }) => [setting.env, sourceOf(setting.env)]),
  );

  const argv = options.argv ?? [];
  for (const arg of argv) {
    if (arg === "--no-drand" || arg === "--use-drand" || arg === "--drand") {
      conf.set("chain.useDrand", arg !== "--no-drand");
      sources.set(SCHEMA.chain.useDrand.env, "command line");
    } else if (!isVerbosityFlag(arg) && arg !== "-h" && arg !== "--help") {
      issues.push({
        variable: "command line",
        value: arg,
        source: "command line",
        problem: "is not a known option",
        allowed: KNOWN_FLAGS,
      });
    }
  }

  const invalid = new Set<string>();
  for (const { group, key, setting } of entries) {
    try {
      validateSetting(
        setting.format,
        conf.get(`${group}.${key}` as never),
        setting,
        setting.nullable === true,
      );
    } catch (err) {
      if (!(err instanceof SettingRejected)) throw err;
      invalid.add(setting.env);
      const raw = merged[setting.env];
      issues.push({
        variable: setting.env,
        value: raw === undefined ? null : setting.sensitive ? REDACTED : raw,
        source: sources.get(setting.env) ?? "default",
        problem: err.problem,
        allowed: err.allowed,
      });
    }
  }

  const raw = conf.getProperties() as RawValues;
  issues.push(...crossChecks(raw, invalid, sources));
  if (issues.length > 0) {
    const scrubbed = issues.map((i) => ({
      ...i,
      value: i.value === null ? null : localSecrets.scrub(i.value, REDACTED),
    }));
    throw new ConfigError(scrubbed, envFile);
  }

  const expand = (p: string) =>
    path.resolve(cwd, p === "~" ? home : p.startsWith("~/") ? path.join(home, p.slice(2)) : p);
  const settings: Record<string, SettingOrigin> = {};
  for (const { group, key, setting } of entries) {
    const value = (raw[group] as Record<string, unknown>)[key];
    settings[setting.env] = { group, display: display(setting, value), source: sources.get(setting.env)! };
  }
  const unknown = unknownVariables(fileVars, env);
  const forwarded = forwardedVariables(fileVars);
  return deepFreeze(assemble(raw, expand, { envFile, settings, unknown, forwarded }, parseVerbosity(argv)));
}

function crossChecks(
  raw: RawValues,
  invalid: ReadonlySet<string>,
  sources: ReadonlyMap<string, SettingSource>,
) {
  const issues: ConfigIssue[] = [];
  const ok = (...vars: string[]) => vars.every((v) => !invalid.has(v));
  const missing = (setting: Setting<unknown>, problem: string, allowed?: string) =>
    issues.push({
      variable: setting.env,
      value: null,
      source: "default",
      problem,
      allowed: allowed ?? allowedText(setting.format, setting),
    });

  const { chain, storage } = SCHEMA;
  if (
    ok(chain.network.env, chain.endpoint.env) &&
    raw.chain.network === "custom" &&
    raw.chain.endpoint === null
  ) {
    missing(chain.endpoint, "is required when BT_NETWORK=custom");
  }
  const pairs = [
    [storage.readAccessKeyId, storage.readSecretAccessKey],
    [storage.writeAccessKeyId, storage.writeSecretAccessKey],
  ] as const;
  for (const [idSetting, secretSetting] of pairs) {
    if (!ok(idSetting.env, secretSetting.env)) continue;
    const id = raw.storage[keyOf("storage", idSetting)];
    const secret = raw.storage[keyOf("storage", secretSetting)];
    if (id !== null && secret === null) {
      missing(
        secretSetting,
        `is required when ${idSetting.env} is set`,
        "the secret access key of that key pair",
      );
    }
    if (id === null && secret !== null) {
      missing(
        idSetting,
        `is required when ${secretSetting.env} is set`,
        "the access key id of that key pair",
      );
    }
  }
  const { accountId, bucketId } = raw.storage;
  if (
    ok(storage.accountId.env, storage.bucketId.env) &&
    accountId !== null &&
    bucketId !== null &&
    accountId !== bucketId
  ) {
    issues.push({
      variable: storage.bucketId.env,
      value: bucketId,
      source: sources.get(storage.bucketId.env) ?? "default",
      problem: `differs from R2_ACCOUNT_ID; the on-chain commitment carries only the account id, so validators read the bucket named ${JSON.stringify(accountId)}`,
      allowed: "the same value as R2_ACCOUNT_ID",
    });
  }
  return issues;
}

function keyOf<G extends GroupName>(group: G, setting: Setting<unknown>): keyof RawValues[G] {
  const found = Object.entries(SCHEMA[group]).find(([, s]) => s === setting);
  return found![0] as keyof RawValues[G];
}

function assemble(
  raw: RawValues,
  expand: (p: string) => string,
  origin: ConfigOrigin,
  verbosity: 0 | 1 | 2,
): MinerConfig {
  const { chain, wallet, storage, paths, pipeline, generation, monitoring, logging, datasets } = raw;
  const endpoint =
    chain.endpoint ??
    (chain.network === "finney" || chain.network === "test" ? NETWORK_ENDPOINTS[chain.network] : null);
  const cacheDir = expand(paths.cacheDir);
  const pair = (id: string | null, secret: string | null) =>
    id !== null && secret !== null ? { accessKeyId: id, secretAccessKey: secret } : null;
  return {
    chain: {
      network: chain.network,
      endpoint,
      embeddedDevnet: endpoint === null,
      netuid: chain.btNetuid ?? chain.netuid ?? DEFAULT_NETUID,
      callTimeoutSeconds: chain.callTimeoutSeconds,
      callRetries: chain.callRetries,
      callBackoffSeconds: chain.callBackoffSeconds,
      initTimeoutSeconds: chain.initTimeoutSeconds,
      closeTimeoutSeconds: chain.closeTimeoutSeconds,
      queryTimeoutSeconds: chain.queryTimeoutSeconds,
      queryRetries: chain.queryRetries,
      useDrand: chain.useDrand,
      devnetBlockTimeSeconds: chain.devnetBlockTimeSeconds,
      devnetWindows: chain.devnetWindows,
      devnetChain: chain.devnetChain,
      devnetChainSpec: chain.devnetChainSpec === null ? null : expand(chain.devnetChainSpec),
      devnetDatasets: chain.devnetDatasets,
    },
    wallet: { coldkey: wallet.coldkey, hotkey: wallet.hotkey, path: expand(wallet.path) },
    storage: {
      accountId: storage.accountId,
      bucketId: storage.bucketId,
      read: pair(storage.readAccessKeyId, storage.readSecretAccessKey),
      write: pair(storage.writeAccessKeyId, storage.writeSecretAccessKey),
      endpointUrl: storage.endpointUrl,
      region: storage.region,
      forcePathStyle: storage.forcePathStyle,
      uploadTimeoutSeconds: storage.uploadTimeoutSeconds,
    },
    pipeline: {
      ...pipeline,
      proofGpus: pipeline.proofGpuIds.length > 0 ? [...pipeline.proofGpuIds] : [pipeline.proofGpu],
      symlinkDir: pipeline.symlinkDir === null ? null : expand(pipeline.symlinkDir),
    },
    generation: { ...generation },
    monitoring: {
      backend: monitoring.backend,
      prometheus: { host: monitoring.prometheusHost, port: monitoring.prometheusPort },
      wandb: {
        apiKey: monitoring.wandbApiKey,
        project: monitoring.wandbProject,
        entity: monitoring.wandbEntity,
        mode: monitoring.wandbMode,
        tags: monitoring.wandbTags,
        notes: monitoring.wandbNotes,
        baseUrl: monitoring.wandbBaseUrl,
        initTimeoutSeconds: monitoring.wandbInitTimeoutSeconds,
      },
      metricBufferSize: monitoring.metricBufferSize,
      metricFlushIntervalSeconds: monitoring.metricFlushIntervalSeconds,
    },
    logging: {
      verbosity,
      format: logging.format,
      file:
        logging.file === null
          ? null
          : { path: expand(logging.file), maxSizeBytes: logging.maxSizeBytes, maxFiles: logging.backupCount },
    },
    paths: {
      cacheDir,
      checkpointDir: path.join(cacheDir, "checkpoints"),
      spoolDir: paths.spoolDir === null ? path.join(cacheDir, "spool") : expand(paths.spoolDir),
    },
    datasets: { hubUrl: datasets.hubUrl, hubToken: datasets.hubToken },
    origin,
  };
}

/** How a setting's value prints: secrets as [redacted], unset as (unset), lists comma-joined. */
function display(setting: Setting<unknown>, value: unknown): string {
  if (value === null || value === undefined) return "(unset)";
  if (setting.sensitive) return REDACTED;
  if (setting.format === "grail-bytes") return formatByteSize(value as number);
  if (setting.format === "grail-proof-engine") return formatProofEngine(value as ProofEngineChoice);
  if (setting.format === "grail-command") {
    return (value as string[]).map((w) => (/[\s"'\\]/.test(w) || w === "" ? JSON.stringify(w) : w)).join(" ");
  }
  if (Array.isArray(value)) return value.length === 0 ? "(empty)" : value.join(",");
  return String(value);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
