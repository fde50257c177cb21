import path from "node:path";
import { describe, expect, test } from "vitest";
import {
  configWarnings,
  editDistance,
  nearestSetting,
  SETTING_PREFIXES,
  settingEntries,
  unknownVariables,
} from "../src/index.js";
import { load, tempDir, writeFile } from "./helpers.js";

const dir = tempDir("grail-config-warnings-");
const noHotkey = () => null;

describe("variables that look like settings but are none", () => {
  test("misspellings name the nearest setting; .env ones come first, in file order", () => {
    const envFile = writeFile(
      path.join(dir, "misspelled", ".env"),
      "GRAIL_PIPELINE_PROOF_GPU_ID=4,5\nR2_ACOUNT_ID=abc\nNETUIDD=3\n",
    );
    const cfg = load({ BT_NETUIDD: "7", WANDB_PROJCT: "x", GRAIL_NOTHING_LIKE_IT: "1" }, { envFile });
    expect(cfg.origin.unknown).toEqual([
      {
        variable: "GRAIL_PIPELINE_PROOF_GPU_ID",
        source: ".env",
        nearest: "GRAIL_PIPELINE_PROOF_GPU_IDS",
        ignored: null,
      },
      { variable: "R2_ACOUNT_ID", source: ".env", nearest: "R2_ACCOUNT_ID", ignored: null },
      { variable: "NETUIDD", source: ".env", nearest: "NETUID", ignored: null },
      { variable: "BT_NETUIDD", source: "environment", nearest: "BT_NETUID", ignored: null },
      { variable: "GRAIL_NOTHING_LIKE_IT", source: "environment", nearest: null, ignored: null },
      { variable: "WANDB_PROJCT", source: "environment", nearest: "WANDB_PROJECT", ignored: null },
    ]);
    expect(configWarnings(cfg, noHotkey).map((w) => w.message)).toEqual([
      "GRAIL_PIPELINE_PROOF_GPU_ID (from .env) is not a setting of this miner and is ignored; did you mean GRAIL_PIPELINE_PROOF_GPU_IDS?",
      "R2_ACOUNT_ID (from .env) is not a setting of this miner and is ignored; did you mean R2_ACCOUNT_ID?",
      "NETUIDD (from .env) is not a setting of this miner and is ignored; did you mean NETUID?",
      "BT_NETUIDD (from environment) is not a setting of this miner and is ignored; did you mean BT_NETUID?",
      "GRAIL_NOTHING_LIKE_IT (from environment) is not a setting of this miner and is ignored; .env.example lists every setting",
      "WANDB_PROJCT (from environment) is not a setting of this miner and is ignored; did you mean WANDB_PROJECT?",
    ]);
  });

  test("settings, other programs' variables, empty values and names read elsewhere in the project pass", () => {
    const cfg = load({
      BT_NETUID: "7",
      CUDA_HOME: "/usr/local/cuda",
      PATH: "/usr/bin",
      GRAIL_TYPO_BUT_EMPTY: "",
      // set by the Docker image and read by the engine build
      GRAIL_ENGINE_CUDA: "1",
      GRAIL_ENGINE_PORTABLE: "1",
      GRAIL_ENGINE_CUDA_ARCHS: "90",
      // btwallet's password variable of an encrypted hotkey, read by the wallet loader
      BT_PW__HOME_MINER__BITTENSOR_WALLETS_DEFAULT_HOTKEYS_DEFAULT: "b64",
    });
    expect(cfg.origin.unknown).toEqual([]);
  });

  test("a variable read elsewhere from the process environment is flagged when it only sits in .env", () => {
    const envFile = writeFile(
      path.join(dir, "elsewhere", ".env"),
      "BT_PW__HOME_MINER__BITTENSOR_WALLETS_DEFAULT_HOTKEYS_DEFAULT=b64\nGRAIL_ENGINE_CUDA=1\n",
    );
    const cfg = load({ GRAIL_ENGINE_CUDA: "1" }, { envFile });
    expect(cfg.origin.unknown).toEqual([
      {
        variable: "BT_PW__HOME_MINER__BITTENSOR_WALLETS_DEFAULT_HOTKEYS_DEFAULT",
        source: ".env",
        nearest: null,
        ignored:
          "the wallet loader reads btwallet's hotkey password variable from the process environment only; export it instead",
      },
    ]);
    expect(configWarnings(cfg, noHotkey)[0]?.message).toBe(
      "BT_PW__HOME_MINER__BITTENSOR_WALLETS_DEFAULT_HOTKEYS_DEFAULT (from .env) is ignored: the wallet loader reads btwallet's hotkey password variable from the process environment only; export it instead",
    );
  });

  test("a list of known-ignored variables plugs in and replaces the spelling hint", () => {
    const ignored = new Map([["BT_SUBTENSOR_NETWORK", "the network comes from BT_NETWORK"]]);
    expect(unknownVariables({ BT_SUBTENSOR_NETWORK: "finney" }, { BT_NETUIDD: "1" }, ignored)).toEqual([
      {
        variable: "BT_SUBTENSOR_NETWORK",
        source: ".env",
        nearest: null,
        ignored: "the network comes from BT_NETWORK",
      },
      { variable: "BT_NETUIDD", source: "environment", nearest: "BT_NETUID", ignored: null },
    ]);
  });

  test("GRAIL_DATA_DIR, the old second cache root, is ignored with a pointer to GRAIL_CACHE_DIR", () => {
    const cfg = load({ GRAIL_DATA_DIR: "/srv/datasets" });
    expect(cfg.origin.unknown).toEqual([
      {
        variable: "GRAIL_DATA_DIR",
        source: "environment",
        nearest: null,
        ignored: expect.stringMatching(/<GRAIL_CACHE_DIR>\/datasets/),
      },
    ]);
    expect(configWarnings(cfg, noHotkey)[0]?.message).toMatch(
      /^GRAIL_DATA_DIR \(from environment\) is ignored: /,
    );
  });

  test("nearest names: edit distance, and nothing when no setting is close", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("BT_NETUIDD", "BT_NETUID")).toBe(1);
    expect(nearestSetting("GRAIL_PIPELINE_PROOF_GPUIDS")).toBe("GRAIL_PIPELINE_PROOF_GPU_IDS");
    expect(nearestSetting("GRAIL_PIPLINE_VLLM_TP")).toBe("GRAIL_PIPELINE_VLLM_TP");
    expect(nearestSetting("BT_X")).toBeNull();
    expect(nearestSetting("GRAIL_SOMETHING_ELSE_ENTIRELY")).toBeNull();
  });

  test("every setting but those other tools name (CUDA_VISIBLE_DEVICES, HF_*) carries one of the checked prefixes", () => {
    const outside = settingEntries()
      .map((e) => e.setting.env)
      .filter((name) => !SETTING_PREFIXES.some((p) => name.startsWith(p)));
    expect(outside).toEqual(["CUDA_VISIBLE_DEVICES", "HF_ENDPOINT", "HF_TOKEN"]);
  });
});

describe("exposure warnings", () => {
  test("the Prometheus endpoint bound beyond loopback", () => {
    const open = (host: string) =>
      configWarnings(load({ GRAIL_MONITORING_BACKEND: "prometheus", GRAIL_PROMETHEUS_HOST: host }), noHotkey);
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "miner.example.com"]) {
      expect(open(host).map((w) => w.variables)).toEqual([["GRAIL_PROMETHEUS_HOST"]]);
    }
    expect(open("0.0.0.0")[0]?.message).toBe(
      "GRAIL_PROMETHEUS_HOST=0.0.0.0 serves /metrics and /healthz beyond this machine (loopback is 127.0.0.0/8, ::1 and localhost); bind 127.0.0.1 unless a firewall or a loopback-only port mapping (as docker/docker-compose.yml publishes 127.0.0.1:9464) keeps others out",
    );
    for (const host of [
      "127.0.0.1",
      "127.9.8.7",
      "localhost",
      "LOCALHOST",
      "::1",
      "[::1]",
      "::ffff:127.0.0.1",
    ]) {
      expect(open(host), host).toEqual([]);
    }
    // no server is started unless the backend is prometheus
    expect(configWarnings(load({ GRAIL_PROMETHEUS_HOST: "0.0.0.0" }), noHotkey)).toEqual([]);
  });

  test("a hotkey file other users can read or change", () => {
    const cfg = load({ BT_WALLET_PATH: "/wallets", BT_WALLET_COLD: "cold", BT_WALLET_HOT: "hot" });
    const file = "/wallets/cold/hotkeys/hot";
    const modes = new Map<string, number>();
    const warnFor = (mode: number) => {
      modes.set(file, 0o100000 | mode);
      return configWarnings(cfg, (f) => modes.get(f) ?? null).map((w) => w.message);
    };
    expect(warnFor(0o644)).toEqual([
      `hotkey file ${file} is readable by other users (mode 0644); restrict it to its owner: chmod 600 ${file}`,
    ]);
    expect(warnFor(0o620)).toEqual([
      `hotkey file ${file} is writable by other users (mode 0620); restrict it to its owner: chmod 600 ${file}`,
    ]);
    expect(warnFor(0o666)[0]).toContain("is readable and writable by other users (mode 0666)");
    expect(warnFor(0o600)).toEqual([]);
    expect(warnFor(0o400)).toEqual([]);
    expect(configWarnings(cfg, noHotkey)).toEqual([]);
    expect(
      configWarnings(
        load({ BT_WALLET_PATH: "/wallets", BT_WALLET_COLD: "cold", BT_WALLET_HOT: "hot" }),
        (f) => (f === file ? 0o100644 : null),
      )[0]?.variables,
    ).toEqual(["BT_WALLET_COLD", "BT_WALLET_HOT", "BT_WALLET_PATH"]);
  });
});
