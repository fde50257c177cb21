import type { FormatName, SettingLimits } from "./formats.js";
import type { ProofEngineChoice } from "./parse.js";

/**
 * One setting of the convict schema: its variable, format, default and one-line doc. `default`
 * is the typed value; `.env`/environment text is parsed by the format's coercion.
 */
export interface Setting<T> extends SettingLimits {
  readonly env: string;
  readonly format: FormatName;
  readonly default: T;
  readonly doc: string;
  readonly sensitive?: boolean;
  readonly nullable?: boolean;
}

type Limits = Omit<SettingLimits, "values">;

function make<T>(
  format: FormatName,
  env: string,
  def: T,
  doc: string,
  extra: Partial<Setting<T>> = {},
): Setting<T> {
  return { env, format, default: def, doc, ...extra };
}
const int = (env: string, def: number, doc: string, limits: Limits = {}) =>
  make<number>("grail-int", env, def, doc, limits);
const optInt = (env: string, doc: string, limits: Limits = {}) =>
  make<number | null>("grail-int", env, null, doc, { ...limits, nullable: true });
const num = (env: string, def: number, doc: string, limits: Limits = {}) =>
  make<number>("grail-number", env, def, doc, limits);
const seconds = (env: string, def: number, doc: string) => num(env, def, doc, { min: 0, minExclusive: true });
const bool = (env: string, def: boolean, doc: string) => make<boolean>("grail-bool", env, def, doc);
const oneOf = <const V extends string>(env: string, values: readonly V[], def: V, doc: string) =>
  make<V>("grail-enum", env, def, doc, { values });
const text = (env: string, def: string, doc: string) => make<string>("grail-string", env, def, doc);
const optText = (
  env: string,
  doc: string,
  extra: { sensitive?: boolean; maxLength?: number; printableAscii?: boolean } = {},
) => make<string | null>("grail-string", env, null, doc, { ...extra, nullable: true });
const name = (env: string, def: string, doc: string) => make<string>("grail-name", env, def, doc);
const dir = (env: string, def: string, doc: string) => make<string>("grail-path", env, def, doc);
const optDir = (env: string, doc: string) =>
  make<string | null>("grail-path", env, null, doc, { nullable: true });
const optCommand = (env: string, doc: string) =>
  make<readonly string[] | null>("grail-command", env, null, doc, { nullable: true });

export const NETWORKS = ["finney", "test", "local", "custom"] as const;
export const DEVNET_CHAINS = ["chopsticks", "embedded"] as const;
export const DEVNET_DATASETS = ["bundled", "real"] as const;
export const BACKENDS = ["sglang", "vllm"] as const;
export const MONITORING_BACKENDS = ["prometheus", "wandb", "null"] as const;
export const THINKING_MODES = ["instructed", "native"] as const;
export const WANDB_MODES = ["online", "offline", "disabled"] as const;
export const LOG_FORMATS = ["auto", "human", "json"] as const;

/** Subnet id when neither BT_NETUID nor NETUID is set (the reference miner's fallback). */
export const DEFAULT_NETUID = 200;

/**
 * Every setting the miner reads, grouped as the typed MinerConfig is. Variable names follow the
 * reference (`spec/miner-pipeline.md` §8) plus the settings this implementation adds.
 */
export const SCHEMA = {
  chain: {
    network: oneOf(
      "BT_NETWORK",
      NETWORKS,
      "local",
      "finney (mainnet), test (testnet), local (the embedded local network) or custom (needs BT_CHAIN_ENDPOINT)",
    ),
    endpoint: make<string | null>(
      "grail-chain-endpoint",
      "BT_CHAIN_ENDPOINT",
      null,
      "websocket endpoint of a subtensor node; when set it wins over BT_NETWORK",
      { nullable: true },
    ),
    btNetuid: optInt("BT_NETUID", "subnet id (wins over NETUID)", { min: 0, max: 65535 }),
    netuid: optInt("NETUID", `subnet id (default ${DEFAULT_NETUID} when neither is set)`, {
      min: 0,
      max: 65535,
    }),
    callTimeoutSeconds: seconds(
      "BT_CALL_TIMEOUT",
      15,
      "per-attempt timeout of a chain call (doubled for metagraph)",
    ),
    callRetries: int("BT_CALL_RETRIES", 3, "attempts per chain call", { min: 1 }),
    callBackoffSeconds: num("BT_CALL_BACKOFF", 5, "base of the exponential backoff between attempts", {
      min: 0,
    }),
    initTimeoutSeconds: seconds("BT_INIT_TIMEOUT", 120, "connection set-up timeout"),
    closeTimeoutSeconds: seconds("BT_CLOSE_TIMEOUT", 60, "connection close timeout"),
    queryTimeoutSeconds: seconds("SUBSTRATE_QUERY_TIMEOUT", 20, "timeout of block-timestamp queries"),
    queryRetries: int("SUBSTRATE_QUERY_RETRIES", 3, "attempts of block-timestamp queries", { min: 1 }),
    useDrand: bool(
      "GRAIL_DRAND",
      true,
      "mix the drand beacon into window randomness (--no-drand turns it off)",
    ),
    devnetBlockTimeSeconds: seconds(
      "GRAIL_DEVNET_BLOCK_TIME",
      2,
      "block time of the embedded local network (2 s: a 60 s window; 12 is the real chain's)",
    ),
    devnetWindows: int(
      "GRAIL_DEVNET_WINDOWS",
      0,
      "windows the embedded local network mines before the miner exits (0: until stopped)",
      { min: 0 },
    ),
    devnetChain: oneOf(
      "GRAIL_DEVNET_CHAIN",
      DEVNET_CHAINS,
      "chopsticks",
      "chain of the embedded local network: chopsticks (the real subtensor runtime; the embedded chain is the announced fallback when it cannot start) or embedded (an in-process block clock)",
    ),
    devnetChainSpec: optDir(
      "GRAIL_DEVNET_CHAIN_SPEC",
      "raw subtensor chain spec the local network runs under chopsticks (default: the spec-218 chain spec shipped in packages/chain/fixtures)",
    ),
    devnetDatasets: oneOf(
      "GRAIL_DEVNET_DATASETS",
      DEVNET_DATASETS,
      "bundled",
      "problems of the embedded local network: bundled (our own small problem sets) or real (the four datasets, fetched from HF_ENDPOINT into the cache when missing, as a real-network start does)",
    ),
  },
  wallet: {
    coldkey: name("BT_WALLET_COLD", "default", "coldkey (wallet) name"),
    hotkey: name("BT_WALLET_HOT", "default", "hotkey name; only the hotkey signs"),
    path: dir("BT_WALLET_PATH", "~/.bittensor/wallets", "directory holding the wallets"),
  },
  storage: {
    accountId: optText("R2_ACCOUNT_ID", "R2 account id (committed on chain: at most 32 characters)", {
      maxLength: 32,
      printableAscii: true,
    }),
    bucketId: optText("R2_BUCKET_ID", "bucket the windows are uploaded to; must equal R2_ACCOUNT_ID"),
    readAccessKeyId: optText(
      "R2_READ_ACCESS_KEY_ID",
      "read-only key id (committed on chain: at most 32 characters)",
      { maxLength: 32, printableAscii: true },
    ),
    readSecretAccessKey: optText(
      "R2_READ_SECRET_ACCESS_KEY",
      "read-only secret (committed on chain so validators can read: at most 64 characters)",
      { sensitive: true, maxLength: 64, printableAscii: true },
    ),
    writeAccessKeyId: optText("R2_WRITE_ACCESS_KEY_ID", "write key id (stays local)"),
    writeSecretAccessKey: optText("R2_WRITE_SECRET_ACCESS_KEY", "write secret (stays local)", {
      sensitive: true,
    }),
    endpointUrl: make<string | null>(
      "grail-http-url",
      "R2_ENDPOINT_URL",
      null,
      "S3 endpoint override for every bucket (default https://<account>.r2.cloudflarestorage.com)",
      { nullable: true },
    ),
    region: text("R2_REGION", "us-east-1", "signing region"),
    forcePathStyle: bool(
      "R2_FORCE_PATH_STYLE",
      false,
      "path-style addressing (needed by most non-R2 stores)",
    ),
    uploadTimeoutSeconds: seconds("UPLOAD_TIMEOUT", 90, "timeout of one upload attempt or part"),
  },
  paths: {
    cacheDir: dir("GRAIL_CACHE_DIR", "~/.cache/grail", "cache root; checkpoints go to <dir>/checkpoints"),
    spoolDir: optDir("GRAIL_SPOOL_DIR", "local spool of window files before upload (default <cache>/spool)"),
  },
  pipeline: {
    backend: oneOf("GRAIL_PIPELINE_BACKEND", BACKENDS, "sglang", "generation server: sglang or vllm"),
    generationGpu: int(
      "GRAIL_PIPELINE_VLLM_GPU",
      0,
      "first generation GPU (relative to CUDA_VISIBLE_DEVICES)",
      {
        min: 0,
      },
    ),
    tensorParallel: int(
      "GRAIL_PIPELINE_VLLM_TP",
      1,
      "generation tensor parallelism: GPUs [VLLM_GPU, VLLM_GPU+TP)",
      {
        min: 1,
      },
    ),
    dataParallel: int(
      "GRAIL_PIPELINE_GENERATION_DP",
      1,
      "generation data parallelism: DP replicas of TP GPUs each behind one endpoint, GPUs [VLLM_GPU, VLLM_GPU+TP·DP)",
      { min: 1 },
    ),
    proofGpu: int("GRAIL_PIPELINE_PROOF_GPU", 1, "proof GPU when PROOF_GPU_IDS is empty (relative)", {
      min: 0,
    }),
    proofGpuIds: make<readonly number[]>(
      "grail-index-list",
      "GRAIL_PIPELINE_PROOF_GPU_IDS",
      [],
      "proof GPUs, one worker each, e.g. 4,5,6,7 (relative)",
    ),
    proofColocate: bool(
      "GRAIL_PIPELINE_PROOF_COLOCATE",
      false,
      "let proof GPUs lie inside the generation range; the generation server's memory fraction is lowered by the proof engine's need",
    ),
    proofSubprocess: bool(
      "GRAIL_PIPELINE_PROOF_SUBPROCESS",
      false,
      "proof workers as child processes (always with several proof GPUs; also on the local network)",
    ),
    groupsPerBatch: int("GRAIL_PIPELINE_GROUPS_PER_BATCH", 1, "GRPO groups (×16 prompts) per generate call", {
      min: 1,
    }),
    proofAllowCpu: bool(
      "GRAIL_PIPELINE_PROOF_ALLOW_CPU",
      false,
      "let native proof workers run on the CPU on a real network when CUDA is unavailable (too slow for mainnet windows; announced at every start)",
    ),
    proofFlashAttn: bool("GRAIL_PIPELINE_PROOF_FLASH_ATTN", false, "must stay false (refused at start)"),
    disableCudaGraph: bool(
      "GRAIL_PIPELINE_DISABLE_CUDA_GRAPH",
      false,
      "also disable SGLang's full CUDA graph",
    ),
    gpuMemUtil: num("GRAIL_PIPELINE_GPU_MEM_UTIL", 0.9, "generation server GPU memory fraction", {
      min: 0,
      max: 1,
      minExclusive: true,
    }),
    maxModelLen: int("GRAIL_PIPELINE_MAX_MODEL_LEN", 12288, "generation server context length", { min: 1 }),
    maxNumSeqs: int("GRAIL_PIPELINE_MAX_NUM_SEQS", 64, "vLLM --max-num-seqs", { min: 1 }),
    maxConcurrent: int("GRAIL_PIPELINE_MAX_CONCURRENT", 48, "client-side concurrent requests", { min: 1 }),
    serverTimeoutSeconds: seconds(
      "GRAIL_PIPELINE_SERVER_TIMEOUT",
      300,
      "server start, HTTP and weight-sync timeout",
    ),
    symlinkDir: optDir("GRAIL_PIPELINE_SYMLINK_DIR", "where vLLM's weight-reload symlink goes (vllm only)"),
    proofEngine: make<ProofEngineChoice>(
      "grail-proof-engine",
      "GRAIL_PIPELINE_PROOF_ENGINE",
      { default: "native", perGpu: {} },
      'proof engine: native or torch, or per GPU "4:native,5:torch"',
    ),
    sglangCommand: optCommand(
      "GRAIL_PIPELINE_SGLANG_COMMAND",
      "command that starts SGLang (default: python3 -m sglang.launch_server)",
    ),
    vllmCommand: optCommand(
      "GRAIL_PIPELINE_VLLM_COMMAND",
      "command that starts vLLM (default: python3 -m vllm.entrypoints.openai.api_server)",
    ),
    python: text(
      "GRAIL_PYTHON",
      "python3",
      "Python (>= 3.11) of the code sandbox, the MATH sympy judge and torch proof workers",
    ),
    engineProfile: bool(
      "GRAIL_ENGINE_PROFILE",
      false,
      "time every kernel family of each CUDA prove() (the engine's lastProfile; costs speed)",
    ),
    engineSharePrompts: bool(
      "GRAIL_ENGINE_SHARE_PROMPTS",
      true,
      "CUDA engine computes a group's shared prompt once (false: once per rollout, same results)",
    ),
    safetyBlocks: int(
      "GRAIL_MINER_SAFETY_BLOCKS",
      3,
      "blocks kept free at the end of a window for the upload",
      {
        min: 0,
        max: 29,
      },
    ),
    watchdogWindows: int(
      "GRAIL_WATCHDOG_WINDOWS",
      5,
      "windows in a row that end without an upload before the miner exits 1 for its supervisor to restart it (0: never)",
      { min: 0 },
    ),
    cudaVisibleDevices: make<readonly string[] | null>(
      "grail-device-list",
      "CUDA_VISIBLE_DEVICES",
      null,
      "devices the miner may use; GPU settings index into this list",
      { nullable: true },
    ),
  },
  generation: {
    thinkingMode: oneOf(
      "GRAIL_THINKING_MODE",
      THINKING_MODES,
      "instructed",
      "start-up thinking mode; each checkpoint's metadata replaces it",
    ),
  },
  monitoring: {
    backend: oneOf(
      "GRAIL_MONITORING_BACKEND",
      MONITORING_BACKENDS,
      "null",
      "prometheus, wandb or null (off)",
    ),
    prometheusHost: text(
      "GRAIL_PROMETHEUS_HOST",
      "127.0.0.1",
      "address the Prometheus /metrics endpoint binds",
    ),
    prometheusPort: int("GRAIL_PROMETHEUS_PORT", 9464, "port of the Prometheus /metrics endpoint", {
      min: 1,
      max: 65535,
    }),
    metricBufferSize: int(
      "GRAIL_METRIC_BUFFER_SIZE",
      100,
      "wandb: counter and histogram updates that send a row to W&B at once",
      { min: 1 },
    ),
    metricFlushIntervalSeconds: seconds(
      "GRAIL_METRIC_FLUSH_INTERVAL",
      30,
      "wandb: longest time a changed metric waits before a row goes to W&B",
    ),
    wandbApiKey: optText("WANDB_API_KEY", "W&B API key; without it nothing goes to W&B", { sensitive: true }),
    wandbBaseUrl: make<string>("grail-http-url", "WANDB_BASE_URL", "https://api.wandb.ai", "W&B API server"),
    wandbProject: text("WANDB_PROJECT", "grail", "W&B project"),
    wandbEntity: optText("WANDB_ENTITY", "W&B entity (team or user); default: the API key's own"),
    wandbMode: oneOf("WANDB_MODE", WANDB_MODES, "online", "online; offline or disabled send nothing to W&B"),
    wandbTags: make<readonly string[]>(
      "grail-words",
      "WANDB_TAGS",
      ["grail", "bittensor"],
      "recorded in the W&B run's config (with mining)",
    ),
    wandbNotes: optText("WANDB_NOTES", "recorded in the W&B run's config"),
    wandbInitTimeoutSeconds: seconds("WANDB_INIT_TIMEOUT", 80, "how long the W&B run may take to start"),
  },
  logging: {
    file: optDir("GRAIL_LOG_FILE", "rotating log file (JSON lines); unset = no file"),
    maxSizeBytes: make<number>("grail-bytes", "GRAIL_LOG_MAX_SIZE", 100 * 1024 ** 2, "rotate at this size", {
      min: 1,
    }),
    backupCount: int("GRAIL_LOG_BACKUP_COUNT", 5, "rotated files kept", { min: 0 }),
    format: oneOf(
      "GRAIL_LOG_FORMAT",
      LOG_FORMATS,
      "auto",
      "console lines: auto (human on a TTY), human or json",
    ),
  },
  datasets: {
    hubUrl: make<string>(
      "grail-http-url",
      "HF_ENDPOINT",
      "https://huggingface.co",
      "dataset hub the four datasets are fetched from when missing or corrupt (a mirror's address)",
    ),
    hubToken: optText("HF_TOKEN", "Hugging Face token sent to HF_ENDPOINT as a bearer token; never logged", {
      sensitive: true,
      printableAscii: true,
    }),
  },
} as const;

export type Schema = typeof SCHEMA;
export type GroupName = keyof Schema;

/** The values convict holds after loading, by group and key. */
export type RawValues = {
  -readonly [G in keyof Schema]: {
    -readonly [K in keyof Schema[G]]: Schema[G][K] extends Setting<infer T> ? T : never;
  };
};

export interface SettingEntry {
  readonly group: GroupName;
  readonly key: string;
  readonly setting: Setting<unknown>;
}

/** Every setting with its group and key, in schema order. */
export function settingEntries(): SettingEntry[] {
  const out: SettingEntry[] = [];
  for (const [group, settings] of Object.entries(SCHEMA) as [GroupName, Record<string, Setting<unknown>>][]) {
    for (const [key, setting] of Object.entries(settings)) out.push({ group, key, setting });
  }
  return out;
}
