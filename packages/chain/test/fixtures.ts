import { readFileSync } from "node:fs";
import { expandMetadata, Metadata, TypeRegistry } from "@polkadot/types";
import { compactStripLength, hexToU8a } from "@polkadot/util";
import { SUBTENSOR_SIGNED_EXTENSIONS } from "../src/extensions.js";
import { chainFixture, localChainSpec } from "../src/testing/fixtures.js";

export const raonetSpec = localChainSpec();

export interface LoadedMetadata {
  readonly label: string;
  readonly registry: TypeRegistry;
  readonly metadata: Metadata;
  readonly decorated: ReturnType<typeof expandMetadata>;
}

function build(label: string, bytes: Uint8Array): LoadedMetadata {
  const registry = new TypeRegistry();
  const metadata = new Metadata(registry, bytes);
  registry.setMetadata(metadata, undefined, SUBTENSOR_SIGNED_EXTENSIONS);
  return { label, registry, metadata, decorated: expandMetadata(registry, metadata) };
}

/** finney spec 343: hex of Option<OpaqueMetadata> holding metadata v15. */
export function loadFinney343(): LoadedMetadata {
  const text = readFileSync(chainFixture("finney-spec343-metadata-v15.hex.txt"), "utf8").trim();
  const option = hexToU8a(text);
  if (option[0] !== 1) throw new Error("expected Some(OpaqueMetadata)");
  const [, bytes] = compactStripLength(option.subarray(1));
  return build("finney spec 343 (v15)", bytes);
}

/** devnet spec 381: plain SCALE metadata v16. */
export function loadDevnet381(): LoadedMetadata {
  return build(
    "devnet spec 381 (v16)",
    new Uint8Array(readFileSync(chainFixture("devnet-spec381-metadata-v16.scale"))),
  );
}
