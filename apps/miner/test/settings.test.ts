import { loadConfig } from "@grail/config";
import { describe, expect, it } from "vitest";
import { proofPoolSettings } from "../src/miner.js";

const load = (env: Record<string, string>) =>
  loadConfig({ env: { HOME: "/home/miner", ...env }, envFile: null, registerSecrets: false });

describe("settings the proof pool gets", () => {
  it("hands the torch workers' interpreter and the engine's switches from the configuration", () => {
    expect(proofPoolSettings(load({}))).toEqual({
      pythonPath: "python3",
      engineOptions: { profile: false, sharePrompts: true },
    });
    const set = load({
      GRAIL_PYTHON: "/opt/py312/bin/python3",
      GRAIL_ENGINE_PROFILE: "true",
      GRAIL_ENGINE_SHARE_PROMPTS: "false",
    });
    expect(proofPoolSettings(set)).toEqual({
      pythonPath: "/opt/py312/bin/python3",
      engineOptions: { profile: true, sharePrompts: false },
    });
  });
});
