import { createRequire, Module } from "node:module";
import path from "node:path";
import type convictModule from "convict";

const require = createRequire(import.meta.url);

/**
 * Loads convict so that its `require("yargs-parser")` gets the parser function in every runtime.
 * yargs-parser lists an `import` export before its `require` one; when Node runs with
 * `--conditions=import` (the test runner passes the workspace's resolve conditions to Node), a
 * CommonJS `require` picks the ESM build and, through require(esm), hands convict a module
 * namespace instead of a function, so convict fails on construction. Seeding the CommonJS cache
 * with the package's own CommonJS build under the resolved name makes both runtimes agree. Under
 * plain Node the resolved file is already the CommonJS build and nothing is done.
 */
function loadConvict(): typeof convictModule {
  const convictRequire = createRequire(require.resolve("convict"));
  try {
    const resolved = convictRequire.resolve("yargs-parser");
    const buildDir = `${path.sep}build${path.sep}`;
    if (!resolved.endsWith(".cjs") && resolved.includes(buildDir) && !convictRequire.cache[resolved]) {
      const cjsBuild = path.join(resolved.slice(0, resolved.lastIndexOf(buildDir)), "build", "index.cjs");
      const parser: unknown = convictRequire(cjsBuild);
      if (typeof parser === "function") {
        const seeded = new Module(resolved);
        seeded.filename = resolved;
        seeded.loaded = true;
        seeded.exports = parser;
        convictRequire.cache[resolved] = seeded;
      }
    }
  } catch {
    // Layout not as expected: leave resolution to Node.
  }
  return require("convict") as typeof convictModule;
}

const convict = loadConvict();
export default convict;
