import type { ApiPromise } from "@polkadot/api";
import type { ApiDecoration } from "@polkadot/api/types";
import type { Codec } from "@polkadot/types/types";
import { ChainError } from "./errors.js";

/** Either the live API or the API decorated at one block hash (`api.at(hash)`). */
export type ChainView = ApiPromise | ApiDecoration<"promise">;

/** A storage entry reached by name: subtensor's are not in polkadot-js's augmented types. */
export type StorageEntry = ((...args: unknown[]) => Promise<Codec>) & {
  entries: (...args: unknown[]) => Promise<Array<[{ args: Codec[] }, Codec]>>;
};

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

export function hasStorage(view: ChainView, pallet: string, item: string): boolean {
  const section = (view.query as Record<string, Record<string, unknown> | undefined>)[lowerFirst(pallet)];
  return typeof section?.[lowerFirst(item)] === "function";
}

/** The storage entry `pallet.item`, or a ChainError naming what this runtime lacks. */
export function storage(view: ChainView, pallet: string, item: string): StorageEntry {
  const section = (view.query as Record<string, Record<string, unknown> | undefined>)[lowerFirst(pallet)];
  const entry = section?.[lowerFirst(item)];
  if (typeof entry !== "function") {
    throw new ChainError(
      `the connected runtime has no ${pallet}.${item} storage; is the endpoint a subtensor node?`,
      { pallet, item, specVersion: view.runtimeVersion.specVersion.toNumber() },
    );
  }
  return entry as StorageEntry;
}

/** A runtime constant as a number, or undefined when this runtime does not declare it. */
export function constantNumber(view: ChainView, pallet: string, name: string): number | undefined {
  const section = (view.consts as Record<string, Record<string, Codec> | undefined>)[lowerFirst(pallet)];
  const value = section?.[lowerFirst(name)] as (Codec & { toNumber?: () => number }) | undefined;
  return typeof value?.toNumber === "function" ? value.toNumber() : undefined;
}

export function codecNumber(value: Codec): number {
  const n = value as Codec & { toNumber?: () => number; isSome?: boolean; unwrap?: () => Codec };
  if (typeof n.unwrap === "function" && n.isSome !== undefined) {
    return n.isSome ? codecNumber(n.unwrap()) : 0;
  }
  if (typeof n.toNumber !== "function")
    throw new ChainError("expected a numeric storage value", { value: n.toHuman() });
  return n.toNumber();
}
