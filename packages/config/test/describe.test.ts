import { describe, expect, test } from "vitest";
import { describeConfig, missingForMainnet } from "../src/index.js";
import { load } from "./helpers.js";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const COMPLETE = {
  BT_NETWORK: "finney",
  NETUID: "81",
  BT_WALLET_COLD: "cold",
  BT_WALLET_HOT: "hot",
  R2_ACCOUNT_ID: ACCOUNT,
  R2_BUCKET_ID: ACCOUNT,
  R2_READ_ACCESS_KEY_ID: "read-key-id",
  R2_READ_SECRET_ACCESS_KEY: "read-secret-value-1234",
  R2_WRITE_ACCESS_KEY_ID: "write-key-id",
  R2_WRITE_SECRET_ACCESS_KEY: "write-secret-value-5678",
  WANDB_API_KEY: "wandb-secret-value-9999",
};

describe("describeConfig", () => {
  test("every variable with its value and source; secrets redacted", () => {
    const cfg = load(COMPLETE, { argv: ["--no-drand"] });
    const text = describeConfig(cfg).join("\n");
    for (const variable of Object.keys(cfg.origin.settings)) expect(text).toContain(variable);
    for (const secret of ["read-secret-value-1234", "write-secret-value-5678", "wandb-secret-value-9999"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toMatch(/R2_WRITE_SECRET_ACCESS_KEY +\[redacted\] +\(environment\)/);
    expect(text).toMatch(/R2_READ_ACCESS_KEY_ID +read-key-id +\(environment\)/);
    expect(text).toMatch(/GRAIL_DRAND +false +\(command line\)/);
    expect(text).toMatch(/GRAIL_PIPELINE_VLLM_TP +1\n/);
    expect(text).toContain(
      "chain: finney at wss://entrypoint-finney.opentensor.ai:443, netuid 81, drand off",
    );
    expect(text).toContain(`storage: ${ACCOUNT} via https://${ACCOUNT}.r2.cloudflarestorage.com`);
    expect(text).toContain("configuration from the environment (no .env file found)");
  });

  test("unset secrets say so, and groups come in schema order", () => {
    const lines = describeConfig(load());
    expect(lines.filter((l) => l.startsWith("["))).toEqual([
      "[chain]",
      "[wallet]",
      "[storage]",
      "[paths]",
      "[pipeline]",
      "[generation]",
      "[monitoring]",
      "[logging]",
      "[datasets]",
      "[resolved]",
    ]);
    expect(lines.find((l) => l.includes("R2_WRITE_SECRET_ACCESS_KEY"))).toMatch(/\(unset\)$/);
    expect(lines).toContain("  chain: embedded local network, netuid 200, drand on");
  });
});

describe("missingForMainnet", () => {
  test("a bare configuration lacks the network, subnet, hotkey and every R2 setting", () => {
    const gaps = missingForMainnet(load(), () => false);
    expect(gaps.map((g) => g.variables.join("+"))).toEqual([
      "BT_NETWORK",
      "NETUID",
      "BT_WALLET_COLD+BT_WALLET_HOT+BT_WALLET_PATH",
      "R2_ACCOUNT_ID",
      "R2_BUCKET_ID",
      "R2_READ_ACCESS_KEY_ID+R2_READ_SECRET_ACCESS_KEY",
      "R2_WRITE_ACCESS_KEY_ID+R2_WRITE_SECRET_ACCESS_KEY",
    ]);
    expect(gaps[2]!.reason).toContain("/home/miner/.bittensor/wallets/default/hotkeys/default");
  });

  test("a complete configuration lacks nothing (the hotkey file is looked up where the wallet says)", () => {
    const seen: string[] = [];
    const gaps = missingForMainnet(load(COMPLETE), (file) => {
      seen.push(file);
      return true;
    });
    expect(gaps).toEqual([]);
    expect(seen).toEqual(["/home/miner/.bittensor/wallets/cold/hotkeys/hot"]);
  });

  test("wandb without an API key is no gap (the metrics go to Prometheus instead), online or offline", () => {
    const base = { ...COMPLETE, GRAIL_MONITORING_BACKEND: "wandb", WANDB_API_KEY: "" };
    expect(missingForMainnet(load(base), () => true)).toEqual([]);
    expect(missingForMainnet(load({ ...base, WANDB_MODE: "offline" }), () => true)).toEqual([]);
  });

  test("an explicit endpoint counts as a real network", () => {
    const gaps = missingForMainnet(
      load({ ...COMPLETE, BT_NETWORK: "local", BT_CHAIN_ENDPOINT: "127.0.0.1:9944" }),
      () => true,
    );
    expect(gaps).toEqual([]);
  });
});
