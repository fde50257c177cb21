import { settingEntries } from "./schema.js";

/**
 * Name beginnings of the settings (CUDA_VISIBLE_DEVICES aside: CUDA_* belongs to NVIDIA's tools).
 * A variable that starts like a setting but is none is most likely a misspelling.
 */
export const SETTING_PREFIXES = [
  "BT_",
  "GRAIL_",
  "R2_",
  "SUBSTRATE_",
  "WANDB_",
  "NETUID",
  "UPLOAD_",
] as const;

/**
 * Variables with a setting prefix that another part of the project or its tooling reads: not
 * settings, not misspellings. A pattern ending in `*` is a prefix. `environmentOnly`: read from the
 * process environment alone, so an entry in the miner's `.env` is lost.
 */
const READ_ELSEWHERE: readonly { pattern: string; reader: string; environmentOnly: boolean }[] = [
  {
    pattern: "BT_PW_*",
    reader: "the wallet loader reads btwallet's hotkey password variable",
    environmentOnly: true,
  },
  {
    pattern: "GRAIL_ENGINE_*",
    reader: "the proof engine's build reads its GRAIL_ENGINE_* switches",
    environmentOnly: true,
  },
  {
    pattern: "GRAIL_NODE_*",
    reader: "the proof engine's build reads the Node header locations",
    environmentOnly: true,
  },
  {
    pattern: "GRAIL_WORKER_*",
    reader: "proof worker processes read what their pool sets",
    environmentOnly: true,
  },
  // docker compose reads these (container user, wallets mount) from its own environment and .env
  { pattern: "GRAIL_UID", reader: "docker compose", environmentOnly: false },
  { pattern: "GRAIL_GID", reader: "docker compose", environmentOnly: false },
  { pattern: "GRAIL_WALLETS_DIR", reader: "docker compose", environmentOnly: false },
];

const TRAINER_MODEL =
  "for the reference trainer's model loading; the miner mines on the checkpoints the trainer publishes";
const TRAINING = "for the reference trainer's GRPO training; a miner does not train";
const PUBLISHED =
  "set on the trainer host and published in each checkpoint's metadata, which the miner follows (as the reference's miner does)";
const VALIDATOR_COMPOSE =
  "read by the reference's validator compose file (docker/docker-compose.validator.yml), not by a miner";
const KERNEL_EVAL =
  "for on-GPU kernel evaluation in the triton_kernel environment, which this miner does not implement";
const HUB =
  "for the reference's uploads to the Hugging Face hub (validator rollouts, trainer models); this miner only downloads the datasets (HF_ENDPOINT, HF_TOKEN)";
const PROMTAIL = "for the reference's Promtail log shipping; point any log shipper at GRAIL_LOG_FILE instead";
const WANDB_FILES = "a directory of the Python W&B client; the W&B client of this miner keeps no local files";

/**
 * Variables of the reference miner's `.env.example` (or of older versions of this miner) that mean
 * nothing to this miner, with the reason shown instead of a spelling hint. Names without a setting
 * prefix count only when set in `.env`.
 */
export const IGNORED_VARIABLES: ReadonlyMap<string, string> = new Map([
  ["HF_USERNAME", HUB],
  [
    "HF_HOME",
    "the Hugging Face cache; the miner and its generation server load checkpoints from GRAIL_CACHE_DIR, never from the hub",
  ],
  ["GRAIL_TRAIN_MODEL_MODE", TRAINER_MODEL],
  [
    "GRAIL_TRAIN_MODEL_ID",
    "a trainer setting that the reference's vLLM launch also took as the fallback --tokenizer when a checkpoint's metadata names no Hub repository; here vLLM then uses the tokenizer the checkpoint ships (tokenizer.json is required), and a Hub name in the metadata is still passed as the reference passes it",
  ],
  ["GRAIL_TRAIN_CHECKPOINT_WINDOW", TRAINER_MODEL],
  ["GRAIL_REF_MODEL_MODE", TRAINER_MODEL],
  ["GRAIL_REF_MODEL_ID", TRAINER_MODEL],
  ["GRAIL_REF_CHECKPOINT_WINDOW", TRAINER_MODEL],
  ["GRAIL_GPU_EVAL", KERNEL_EVAL],
  ["KERNEL_EVAL_GPU_IDS", KERNEL_EVAL],
  ["KERNEL_EVAL_BACKEND", KERNEL_EVAL],
  ["KERNEL_EVAL_TIMEOUT", KERNEL_EVAL],
  [
    "GRAIL_GENERATION_BATCH_SIZE",
    "the reference reads it nowhere either; the miner sends each group's 16 prompts to the generation server together, GRAIL_PIPELINE_GROUPS_PER_BATCH groups at a time (tune that instead)",
  ],
  ...[
    "GRAIL_TRAINER_LR",
    "GRAIL_TRAINER_EPOCHS",
    "GRAIL_TRAINER_BATCH_SIZE",
    "GRAIL_TRAINER_GRAD_ACCUM_STEPS",
    "GRAIL_TRAINER_TOTAL_WINDOWS",
    "GRAIL_LR_SCHEDULER_TYPE",
    "GRAIL_WARMUP_FRACTION",
    "GRAIL_SCHEDULER_ETA_MIN",
    "GRAIL_TRAINER_MAX_LENGTH",
    "GRAIL_TRAINER_GRAD_CLIP",
    "GRAIL_TRAINER_KL_COEF",
    "GRAIL_TRAINER_ENTROPY_COEF",
    "GRAIL_TRAINER_ADV_CLIP_PERCENTILE",
    "GRAIL_TRAINER_GROUP_ADV_SUM_TOL",
    "GRAIL_TRAINER_USE_FLASH_ATTENTION",
    "GRAIL_TRAINER_USE_GRADIENT_CHECKPOINTING",
    "GRAIL_GRPO_MAX_GROUPS",
    "GRAIL_GRPO_MAX_COMPLETION_TOKENS",
    "GRAIL_GRPO_MIN_SUCCESS_FRACTION",
    "GRAIL_GRPO_MIN_REWARD_PER_TOKEN",
    "GRAIL_GRPO_REWARD_PER_TOKEN_DROP_QUANTILE",
    "GRAIL_GRPO_RANKING_REWARD_WEIGHT",
    "GRAIL_GRPO_RANKING_VARIANCE_WEIGHT",
  ].map((name): [string, string] => [name, TRAINING]),
  [
    "GRAIL_CHECKPOINT_MILESTONE_INTERVAL",
    "the trainer keeps milestone checkpoints in its bucket; the miner's cache keeps only the checkpoints it can still mine on (the reference's miner cache kept each milestone too)",
  ],
  [
    "GRAIL_DELTA_FORMAT",
    "the trainer's codec for checkpoint deltas; the miner decodes the codec each delta names",
  ],
  ["GRAIL_VALIDATOR_IMAGE", VALIDATOR_COMPOSE],
  ["GRAIL_VALIDATOR_TEST_MODE", VALIDATOR_COMPOSE],
  ["GRAIL_VALIDATOR_GPU_IDS", VALIDATOR_COMPOSE],
  ["GRAIL_VALIDATOR_SHM_SIZE", VALIDATOR_COMPOSE],
  ...[
    "GRAIL_ENV_ID",
    "GRAIL_ENV_SPLIT",
    "GRAIL_GEN_MAX_TOKENS",
    "GRAIL_GEN_TEMPERATURE",
    "GRAIL_GEN_TOP_P",
    "GRAIL_GEN_TOP_K",
    "GRAIL_GEN_REPETITION_PENALTY",
  ].map((name): [string, string] => [name, PUBLISHED]),
  [
    "GRAIL_HOST_STORAGE_PATH",
    "a bind mount of the reference's compose file; docker/docker-compose.yml keeps the cache in its grail-cache volume, and a run outside Docker uses GRAIL_CACHE_DIR",
  ],
  [
    "WANDB_RESUME",
    "@wandb/sdk cannot resume a run, so every start makes a new W&B run (what allow does without a run id)",
  ],
  ["WANDB_CACHE_DIR", WANDB_FILES],
  ["WANDB_DATA_DIR", WANDB_FILES],
  ["PROMTAIL_ENABLE", PROMTAIL],
  ["PROMTAIL_LOKI_URL", PROMTAIL],
  ["PROMTAIL_JOB", PROMTAIL],
  ["GRAIL_ENV", PROMTAIL],
  ["GF_SERVER_ROOT_URL", "the root URL of the reference's Grafana deployment, not a miner setting"],
  [
    "GRAIL_DATA_DIR",
    "the datasets live under <GRAIL_CACHE_DIR>/datasets; set GRAIL_CACHE_DIR or move the datasets there",
  ],
]);

/** A variable that starts like a setting but is none. */
export interface UnknownVariable {
  readonly variable: string;
  /** Where it was set; `.env` when both set it. */
  readonly source: ".env" | "environment";
  /** The setting it is probably a misspelling of, or null when none is close. */
  readonly nearest: string | null;
  /** Why the miner ignores it, for a known variable it does not read; else null. */
  readonly ignored: string | null;
}

function readElsewhere(name: string) {
  return READ_ELSEWHERE.find(({ pattern }) =>
    pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern,
  );
}

/**
 * The variables of `.env` (in file order) and of the environment (sorted) that carry a setting
 * prefix but are no setting. Empty values are skipped (they would select the default anyway). A
 * variable read elsewhere passes, unless its reader sees only the process environment and it is
 * set in `.env` alone.
 */
export function unknownVariables(
  fileVars: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>>,
  ignored: ReadonlyMap<string, string> = IGNORED_VARIABLES,
): UnknownVariable[] {
  const settings = new Set(settingEntries().map((e) => e.setting.env));
  const out: UnknownVariable[] = [];
  const consider = (variable: string, source: UnknownVariable["source"]) => {
    if (settings.has(variable)) return;
    if (!SETTING_PREFIXES.some((p) => variable.startsWith(p))) {
      // Other programs' variables pass; one copied from the reference's .env gets its reason.
      const why = source === ".env" ? ignored.get(variable) : undefined;
      if (why) out.push({ variable, source, nearest: null, ignored: why });
      return;
    }
    const elsewhere = readElsewhere(variable);
    if (elsewhere) {
      if (elsewhere.environmentOnly && source === ".env" && !env[variable]) {
        out.push({
          variable,
          source,
          nearest: null,
          ignored: `${elsewhere.reader} from the process environment only; export it instead`,
        });
      }
      return;
    }
    const why = ignored.get(variable);
    out.push({ variable, source, nearest: why ? null : nearestSetting(variable), ignored: why ?? null });
  };
  for (const [name, value] of Object.entries(fileVars)) if (value !== "") consider(name, ".env");
  for (const name of Object.keys(env).sort()) {
    if (env[name] && fileVars[name] === undefined) consider(name, "environment");
  }
  return out;
}

/**
 * The `.env` variables that belong to other programs (NCCL_*, SGLANG_*, PYTORCH_*, …):
 * not settings, no setting prefix, not one of the reference's variables this miner ignores. The
 * reference loads its `.env` into the process environment, so its generation server sees them;
 * the miner passes them to the processes it starts for the same effect.
 */
export function forwardedVariables(
  fileVars: Readonly<Record<string, string>>,
  ignored: ReadonlyMap<string, string> = IGNORED_VARIABLES,
): Record<string, string> {
  const settings = new Set(settingEntries().map((e) => e.setting.env));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fileVars)) {
    if (value === "" || settings.has(name) || ignored.has(name)) continue;
    if (SETTING_PREFIXES.some((p) => name.startsWith(p)) || readElsewhere(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The setting whose name is closest to `name`, when close enough to be a misspelling of it. */
export function nearestSetting(name: string): string | null {
  // Up to three edits, and never more than a third of the name: short names match only closely.
  const limit = Math.min(3, Math.floor(name.length / 3));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const { setting } of settingEntries()) {
    const d = editDistance(name, setting.env);
    if (d < bestDistance) {
      best = setting.env;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, substitution));
    }
    row = next;
  }
  return row[b.length]!;
}

/** The warning line of an unknown variable. */
export function unknownVariableWarning(u: UnknownVariable): string {
  if (u.ignored !== null) return ignoredVariablesWarning([u.variable], u.source, u.ignored);
  const hint = u.nearest !== null ? `did you mean ${u.nearest}?` : ".env.example lists every setting";
  return `${u.variable} (from ${u.source}) is not a setting of this miner and is ignored; ${hint}`;
}

/** One line for variables from one place that are ignored for the same reason. */
export function ignoredVariablesWarning(
  variables: readonly string[],
  source: UnknownVariable["source"],
  reason: string,
): string {
  return `${variables.join(", ")} (from ${source}) ${variables.length === 1 ? "is" : "are"} ignored: ${reason}`;
}
