import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The public chain data shipped in this package's `fixtures/` (see its README for sources). */
export type ChainFixture =
  | "raonet-spec218.json"
  | "finney-spec343-metadata-v15.hex.txt"
  | "devnet-spec381-metadata-v16.scale";

// src/testing/ and dist/testing/ are both two levels below the package root.
const fixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures");

/** Absolute path of a shipped chain fixture; throws when the package was installed without it. */
export function chainFixture(name: ChainFixture): string {
  const file = path.join(fixturesDir, name);
  if (!existsSync(file)) {
    throw new Error(
      `chain fixture ${name} is missing from ${fixturesDir}; reinstall the @grail/chain package`,
    );
  }
  return file;
}

/** The raw chain spec (runtime spec 218) the local network runs under chopsticks. */
export function localChainSpec(): string {
  return chainFixture("raonet-spec218.json");
}
