import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import {
  configWarnings,
  describeConfig,
  loadConfig,
  missingForMainnet,
  settingEntries,
} from "../src/index.js";
import { HOME, load } from "./helpers.js";

/** The reference miner's .env.example, typed in (see the file's header for the commit). */
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "reference.env");
const assigned = readFileSync(FIXTURE, "utf8")
  .split("\n")
  .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({ name: m[1]!, value: m[2]!.replace(/^"(.*)"$/, "$1") }));
const noHotkey = () => null;

const loadReference = (env: Record<string, string> = {}) =>
  loadConfig({ env: { HOME, ...env }, envFile: FIXTURE, cwd: "/srv/miner", registerSecrets: false });

describe("the reference miner's .env", () => {
  test("loads with no error: each variable it sets is a setting read from it, or ignored with a reason", () => {
    expect(assigned.length).toBe(97);
    const cfg = loadReference();
    const settings = new Set(settingEntries().map((e) => e.setting.env));
    const unknown = new Map(cfg.origin.unknown.map((u) => [u.variable, u]));
    const unaccounted: string[] = [];
    for (const { name, value } of assigned) {
      if (value === "") continue; // an empty value selects the default, here as in the reference
      if (settings.has(name)) {
        if (cfg.origin.settings[name]?.source !== ".env") unaccounted.push(`${name}: not read from .env`);
      } else if (!unknown.get(name)?.ignored) {
        unaccounted.push(`${name}: no reason given`);
      }
    }
    expect(unaccounted).toEqual([]);
    // nothing reads as a misspelling of a setting
    expect(cfg.origin.unknown.filter((u) => u.ignored === null)).toEqual([]);
    expect(cfg.chain).toMatchObject({ network: "finney", netuid: 81, callTimeoutSeconds: 15 });
    expect(cfg.monitoring).toMatchObject({
      backend: "wandb",
      metricBufferSize: 100,
      metricFlushIntervalSeconds: 30,
    });
    expect(cfg.monitoring.wandb).toMatchObject({
      apiKey: null,
      project: "grail",
      entity: "tplr",
      mode: "online",
      tags: ["grail", "bittensor", "production"],
      notes: "GRAIL production monitoring",
    });
    expect(cfg.logging.file).toEqual({
      path: "/var/log/grail/grail.log",
      maxSizeBytes: 100 * 1024 ** 2,
      maxFiles: 5,
    });
  });

  test("the ignored variables are named with their reason, one line per reason", () => {
    const messages = configWarnings(loadReference(), noHotkey).map((w) => w.message);
    expect(messages.some((m) => m.includes("is not a setting of this miner"))).toBe(false);
    const trainer = messages.find((m) => m.startsWith("GRAIL_TRAINER_LR, GRAIL_TRAINER_EPOCHS,"));
    expect(trainer).toMatch(
      /^GRAIL_TRAINER_LR, .*, GRAIL_GRPO_RANKING_VARIANCE_WEIGHT \(from \.env\) are ignored: /,
    );
    // HF_TOKEN is a setting: the dataset downloads send it to HF_ENDPOINT.
    expect(messages.filter((m) => m.includes("HF_TOKEN"))).toEqual([]);
    expect(loadReference().datasets.hubToken).toBe("hf_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    for (const name of [
      "KERNEL_EVAL_GPU_IDS",
      "GRAIL_GENERATION_BATCH_SIZE",
      "WANDB_RESUME",
      "PROMTAIL_LOKI_URL",
    ]) {
      expect(
        messages.filter((m) => m.includes(name)),
        name,
      ).toHaveLength(1);
    }
    expect(messages).toContain(
      "GRAIL_GENERATION_BATCH_SIZE (from .env) is ignored: the reference reads it nowhere either; the miner sends each group's 16 prompts to the generation server together, GRAIL_PIPELINE_GROUPS_PER_BATCH groups at a time (tune that instead)",
    );
  });

  test("wandb without an API key is no gap: a warning says the metrics are served for Prometheus instead", () => {
    const account = "0123456789abcdef0123456789abcdef";
    const cfg = loadReference({});
    const complete = load({
      ...Object.fromEntries(assigned.filter((a) => a.value !== "").map((a) => [a.name, a.value])),
      BT_WALLET_COLD: "cold",
      R2_ACCOUNT_ID: account,
      R2_BUCKET_ID: account,
    });
    expect(missingForMainnet(complete, () => true)).toEqual([]);
    const warning = configWarnings(cfg, noHotkey).find((w) => w.variables.includes("WANDB_API_KEY"));
    expect(warning?.message).toBe(
      "GRAIL_MONITORING_BACKEND=wandb without WANDB_API_KEY: nothing is logged to W&B; the metrics are served for Prometheus on http://127.0.0.1:9464/metrics instead. Set WANDB_API_KEY (from https://wandb.ai/authorize) to log to W&B, or GRAIL_MONITORING_BACKEND=prometheus to keep this",
    );
    expect(describeConfig(cfg)).toContain(
      "  monitoring: W&B off (no WANDB_API_KEY); Prometheus /metrics and /healthz on http://127.0.0.1:9464",
    );
  });
});

describe("settings that did nothing", () => {
  test("GRAIL_GENERATION_BATCH_SIZE, GRAIL_TRAIN_MODEL_ID and WANDB_RESUME are no settings; set, each is ignored with its reason", () => {
    const names = ["GRAIL_GENERATION_BATCH_SIZE", "GRAIL_TRAIN_MODEL_ID", "WANDB_RESUME"];
    const settings = settingEntries().map((e) => e.setting.env);
    for (const name of names) expect(settings, name).not.toContain(name);
    const cfg = load({
      GRAIL_GENERATION_BATCH_SIZE: "4",
      GRAIL_TRAIN_MODEL_ID: "Qwen/Qwen3-8B",
      WANDB_RESUME: "must",
    });
    expect(cfg.origin.unknown.map((u) => u.variable)).toEqual(names);
    for (const u of cfg.origin.unknown) expect(u.ignored, u.variable).toEqual(expect.any(String));
    const reason = cfg.origin.unknown.find((u) => u.variable === "GRAIL_TRAIN_MODEL_ID")?.ignored;
    expect(reason).toContain("fallback --tokenizer when a checkpoint's metadata names no Hub repository");
    expect(reason).toContain("vLLM then uses the tokenizer the checkpoint ships");
  });

  test("variables without a setting prefix are reported from .env only", () => {
    const cfg = loadConfig({
      env: { HOME, HF_HOME: "/data/hf", HF_TOKEN: "hf_from_the_environment" },
      envFile: null,
      cwd: "/srv/miner",
      registerSecrets: false,
    });
    expect(cfg.origin.unknown).toEqual([]);
  });
});
