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
    reader: "the proof engine and its build read GRAIL_ENGINE_* switches",
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
  { pattern: "GRAIL_DATA_DIR", reader: "the dataset cache reads its directory", environmentOnly: true },
  { pattern: "GRAIL_PYTHON", reader: "the Python sandbox reads its interpreter", environmentOnly: true },
  // docker compose reads these (container user, wallets mount) from its own environment and .env
  { pattern: "GRAIL_UID", reader: "docker compose", environmentOnly: false },
  { pattern: "GRAIL_GID", reader: "docker compose", environmentOnly: false },
  { pattern: "GRAIL_WALLETS_DIR", reader: "docker compose", environmentOnly: false },
];

/**
 * Variables other miners' `.env` files set that this miner deliberately ignores, with the reason
 * shown instead of a spelling hint. Filled where such a variable is known.
 */
export const IGNORED_VARIABLES: ReadonlyMap<string, string> = new Map();

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
    if (settings.has(variable) || !SETTING_PREFIXES.some((p) => variable.startsWith(p))) return;
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
  const head = `${u.variable} (from ${u.source})`;
  if (u.ignored !== null) return `${head} is ignored: ${u.ignored}`;
  const hint = u.nearest !== null ? `did you mean ${u.nearest}?` : ".env.example lists every setting";
  return `${head} is not a setting of this miner and is ignored; ${hint}`;
}
