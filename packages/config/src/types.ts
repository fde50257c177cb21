import type { ProofEngineChoice } from "./parse.js";
import type {
  BACKENDS,
  DEVNET_CHAINS,
  DEVNET_DATASETS,
  GroupName,
  LOG_FORMATS,
  MONITORING_BACKENDS,
  NETWORKS,
  THINKING_MODES,
  WANDB_MODES,
} from "./schema.js";
import type { UnknownVariable } from "./unknown.js";

export type Network = (typeof NETWORKS)[number];
export type GenerationBackend = (typeof BACKENDS)[number];
export type DevnetChainKind = (typeof DEVNET_CHAINS)[number];
export type DevnetDatasets = (typeof DEVNET_DATASETS)[number];
export type MonitoringBackend = (typeof MONITORING_BACKENDS)[number];
export type ThinkingMode = (typeof THINKING_MODES)[number];
export type Verbosity = 0 | 1 | 2;

export interface ChainConfig {
  readonly network: Network;
  /** The websocket endpoint to connect to; null means the embedded local network. */
  readonly endpoint: string | null;
  /** True when no external chain is configured: `local` without BT_CHAIN_ENDPOINT. */
  readonly embeddedDevnet: boolean;
  readonly netuid: number;
  readonly callTimeoutSeconds: number;
  readonly callRetries: number;
  readonly callBackoffSeconds: number;
  readonly initTimeoutSeconds: number;
  readonly closeTimeoutSeconds: number;
  readonly queryTimeoutSeconds: number;
  readonly queryRetries: number;
  /** Mix the drand beacon into window randomness (GRAIL_DRAND; `--no-drand` wins). */
  readonly useDrand: boolean;
  /** Block time of the embedded local network. */
  readonly devnetBlockTimeSeconds: number;
  /** Windows the local network mines before the miner exits; 0 = until stopped. */
  readonly devnetWindows: number;
  /** The local network's chain: the real runtime under chopsticks (default) or the in-process clock. */
  readonly devnetChain: DevnetChainKind;
  /** A subtensor chain spec for the local network to run under chopsticks; null: the shipped one. */
  readonly devnetChainSpec: string | null;
  /** The local network's problems: the bundled sets, or the real datasets provisioned from the hub. */
  readonly devnetDatasets: DevnetDatasets;
}

export interface WalletConfig {
  readonly coldkey: string;
  readonly hotkey: string;
  /** Absolute directory holding the wallets (`~` expanded). */
  readonly path: string;
}

export interface AccessKeyPair {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface StorageConfig {
  readonly accountId: string | null;
  readonly bucketId: string | null;
  /** Read-only pair, committed on chain for validators; null when not configured. */
  readonly read: AccessKeyPair | null;
  /** Write pair, used only by this process to upload; null when not configured. */
  readonly write: AccessKeyPair | null;
  readonly endpointUrl: string | null;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly uploadTimeoutSeconds: number;
}

export interface PipelineConfig {
  readonly backend: GenerationBackend;
  /** First generation GPU, relative to CUDA_VISIBLE_DEVICES (GRAIL_PIPELINE_VLLM_GPU). */
  readonly generationGpu: number;
  /** Generation tensor parallelism: GPUs of one replica. */
  readonly tensorParallel: number;
  /**
   * Generation data parallelism (GRAIL_PIPELINE_GENERATION_DP): replicas behind the server's one
   * endpoint, over GPUs [generationGpu, generationGpu + tensorParallel · dataParallel).
   */
  readonly dataParallel: number;
  /** GRAIL_PIPELINE_PROOF_GPU: the proof GPU when proofGpuIds is empty. */
  readonly proofGpu: number;
  /** GRAIL_PIPELINE_PROOF_GPU_IDS as configured (may be empty). */
  readonly proofGpuIds: readonly number[];
  /** The proof GPUs actually used: proofGpuIds, or [proofGpu] when that is empty. */
  readonly proofGpus: readonly number[];
  /** GRAIL_PIPELINE_PROOF_COLOCATE: proof GPUs may lie inside the generation range. */
  readonly proofColocate: boolean;
  readonly proofSubprocess: boolean;
  readonly groupsPerBatch: number;
  /** GRAIL_PIPELINE_PROOF_ALLOW_CPU: the CPU backend is allowed on a real network. */
  readonly proofAllowCpu: boolean;
  readonly proofFlashAttn: boolean;
  readonly disableCudaGraph: boolean;
  readonly gpuMemUtil: number;
  readonly maxModelLen: number;
  readonly maxNumSeqs: number;
  readonly maxConcurrent: number;
  readonly serverTimeoutSeconds: number;
  readonly symlinkDir: string | null;
  readonly proofEngine: ProofEngineChoice;
  /** Launch command override (argv words), or null for the built-in default. */
  readonly sglangCommand: readonly string[] | null;
  readonly vllmCommand: readonly string[] | null;
  /** Interpreter of the code sandbox, the MATH judge and torch proof workers (GRAIL_PYTHON). */
  readonly python: string;
  /** Per-stage timing of each CUDA prove() (GRAIL_ENGINE_PROFILE). */
  readonly engineProfile: boolean;
  /** The CUDA engine computes a group's shared prompt once (GRAIL_ENGINE_SHARE_PROMPTS). */
  readonly engineSharePrompts: boolean;
  readonly safetyBlocks: number;
  /** Windows in a row without an upload before the watchdog exits 1 (0: never). */
  readonly watchdogWindows: number;
  /** CUDA_VISIBLE_DEVICES entries; null when unset (every device visible), [] when set empty. */
  readonly cudaVisibleDevices: readonly string[] | null;
}

export interface GenerationConfig {
  readonly thinkingMode: ThinkingMode;
}

export interface WandbConfig {
  readonly apiKey: string | null;
  readonly project: string;
  readonly entity: string | null;
  readonly mode: (typeof WANDB_MODES)[number];
  readonly tags: readonly string[];
  readonly notes: string | null;
  /** The W&B API server (WANDB_BASE_URL), without a trailing slash. */
  readonly baseUrl: string;
  readonly initTimeoutSeconds: number;
}

export interface MonitoringConfig {
  readonly backend: MonitoringBackend;
  readonly prometheus: { readonly host: string; readonly port: number };
  readonly wandb: WandbConfig;
  readonly metricBufferSize: number;
  readonly metricFlushIntervalSeconds: number;
}

export interface LoggingConfig {
  readonly verbosity: Verbosity;
  readonly format: (typeof LOG_FORMATS)[number];
  /** Rotating file log, or null when GRAIL_LOG_FILE is unset. */
  readonly file: { readonly path: string; readonly maxSizeBytes: number; readonly maxFiles: number } | null;
}

export interface PathsConfig {
  readonly cacheDir: string;
  /** `<cacheDir>/checkpoints`. */
  readonly checkpointDir: string;
  readonly spoolDir: string;
}

export interface DatasetsConfig {
  /** Hub the datasets are fetched from (HF_ENDPOINT), without a trailing slash. */
  readonly hubUrl: string;
  /** Bearer token for the hub (HF_TOKEN); null when unset. */
  readonly hubToken: string | null;
}

export type SettingSource = "default" | "environment" | ".env" | "command line";

export interface SettingOrigin {
  readonly group: GroupName;
  /** The value as printed by describeConfig; secrets are already redacted. */
  readonly display: string;
  readonly source: SettingSource;
}

export interface ConfigOrigin {
  /** The `.env` file that was read, or null. */
  readonly envFile: string | null;
  /** Per variable: where its value came from and how it prints. */
  readonly settings: Readonly<Record<string, SettingOrigin>>;
  /** Variables that look like settings but are none (likely misspellings); configWarnings words them. */
  readonly unknown: readonly UnknownVariable[];
  /**
   * Other programs' variables from `.env` (NCCL_*, SGLANG_*, …), passed to the generation server and
   * the proof workers as the reference's load_dotenv makes them visible to its children.
   */
  readonly forwarded: Readonly<Record<string, string>>;
}

/** The whole miner configuration: typed, validated and frozen. */
export interface MinerConfig {
  readonly chain: ChainConfig;
  readonly wallet: WalletConfig;
  readonly storage: StorageConfig;
  readonly pipeline: PipelineConfig;
  readonly generation: GenerationConfig;
  readonly monitoring: MonitoringConfig;
  readonly logging: LoggingConfig;
  readonly paths: PathsConfig;
  readonly datasets: DatasetsConfig;
  readonly origin: ConfigOrigin;
}
