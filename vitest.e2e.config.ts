import { defineConfig } from "vitest/config";
import { conditions } from "./vitest.config.js";

// The end-to-end files: whole miners and local networks on the subtensor runtime, minutes each.
// `pnpm test:e2e` runs them one at a time (each already keeps both cores of a small machine busy).
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ["packages/*/test/**/*.e2e.test.ts", "apps/*/test/**/*.e2e.test.ts"],
    environment: "node",
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: false,
  },
});
