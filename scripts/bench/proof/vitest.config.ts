import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The proof benchmark's tests (the root config only collects packages/* and apps/*):
//   npx vitest run --config scripts/bench/proof/vitest.config.ts
const conditions = ["source", "node"];

export default defineConfig({
  root: fileURLToPath(new URL("../../..", import.meta.url)),
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ["scripts/bench/proof/test/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    pool: "forks",
  },
});
