import { defineConfig } from "vitest/config";

// Workspace packages export their TypeScript sources under the "source" condition,
// so tests run against src/ without a prior build. Child-process tests use dist/,
// which `pnpm test` builds first. No "import" here: vitest hands these conditions to
// Node, and a forced "import" makes CommonJS dependencies require() ESM builds.
export const conditions = ["source", "node"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "scripts/**/test/**/*.test.ts",
      "docker/test/**/*.test.ts",
    ],
    // End-to-end files (whole miners on the subtensor runtime) run with `pnpm test:e2e`.
    exclude: ["**/node_modules/**", "**/*.e2e.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
