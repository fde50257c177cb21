import { bundledDatasetStore, SandboxUnavailableError } from "@grail/environments";
import { describe, expect, it } from "vitest";
import { MiningEnvironments } from "../src/mining/environments.js";

describe("the environments of a window", () => {
  it("start the code sandbox with the configured interpreter (GRAIL_PYTHON), not a default", async () => {
    const environments = new MiningEnvironments(bundledDatasetStore(), {
      python: "/nonexistent/grail-python",
    });
    try {
      expect(() => environments.factory("mbpp", { split: "train" })).toThrow(SandboxUnavailableError);
      expect(() => environments.factory("mbpp", { split: "train" })).toThrow(/\/nonexistent\/grail-python/);
      // gsm8k needs no interpreter; MATH falls back to the judge without sympy.
      expect(() => environments.factory("gsm8k", { split: "train" })).not.toThrow();
      expect(() => environments.factory("math", { split: "train" })).not.toThrow();
    } finally {
      await environments.close();
    }
  });
});
