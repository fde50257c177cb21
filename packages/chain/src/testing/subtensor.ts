import type { ApiPromise, SubmittableResult } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Codec } from "@polkadot/types/types";
import type { LocalChopsticks } from "./chopsticks.js";

/**
 * Steps a test (or the devnet) takes on a local subtensor before the miner starts:
 * funding coldkeys, creating a subnet, registering hotkeys. These sign with keyring
 * pairs of throwaway test accounts, never with a miner's hotkey.
 */

export const TAO = 1_000_000_000n;

export interface IncludedExtrinsic {
  readonly blockHash: string;
  readonly events: ReadonlyArray<{ section: string; method: string; data: Codec[] }>;
}

/** Gives each account `free` rao by writing System.Account through dev_setStorage. */
export async function fundAccounts(
  chopsticks: LocalChopsticks,
  accounts: readonly string[],
  free: bigint = 1_000_000n * TAO,
): Promise<void> {
  await chopsticks.setStorage({
    System: {
      Account: accounts.map((account) => [[account], { providers: 1, data: { free: free.toString() } }]),
    },
  });
}

/**
 * Signs and submits `tx`, builds one block with it, and resolves once that block is
 * finalized (chopsticks finalizes every block it builds); a dispatch error rejects
 * with the runtime's error name.
 */
export async function submitAndBuild(
  chopsticks: LocalChopsticks,
  api: ApiPromise,
  tx: SubmittableExtrinsic<"promise">,
  signer: KeyringPair,
): Promise<IncludedExtrinsic> {
  let unsubscribe: (() => void) | undefined;
  const finalized = new Promise<IncludedExtrinsic>((resolve, reject) => {
    // Immortal: a mortal era names a checkpoint block whose hash the runtime looks up by number,
    // and chopsticks' manual blocks (numbers skipped ahead, storage set on the head) left that
    // lookup to chance, which the runtime reports as badProof now and then.
    tx.signAndSend(signer, { era: 0 }, (result: SubmittableResult) => {
      if (!result.status.isFinalized && !result.status.isInBlock) {
        if (result.status.isInvalid || result.status.isDropped || result.status.isUsurped) {
          reject(new Error(`${tx.method.section}.${tx.method.method} was ${result.status.type}`));
        }
        return;
      }
      if (result.dispatchError) {
        const error = result.dispatchError;
        const name = error.isModule
          ? (() => {
              const meta = api.registry.findMetaError(error.asModule);
              return `${meta.section}.${meta.name}`;
            })()
          : error.toString();
        reject(new Error(`${tx.method.section}.${tx.method.method} failed: ${name}`));
        return;
      }
      if (result.status.isFinalized) {
        resolve({
          blockHash: result.status.asFinalized.toHex(),
          events: result.events.map(({ event }) => ({
            section: event.section,
            method: event.method,
            data: [...event.data],
          })),
        });
      }
    })
      .then((unsub) => {
        unsubscribe = unsub;
      })
      .catch(reject);
  });
  // A refusal by the pool ("badProof", "invalid") can reject before anyone awaits `finalized`:
  // mark it handled here so it surfaces from this call, not as an unhandled rejection.
  finalized.catch(() => {});
  try {
    // signAndSend's subscription is open once the pool has the extrinsic; a refused extrinsic
    // never reaches the pool, so its rejection ends the wait for a block.
    await Promise.race([chopsticks.buildBlockWhenPending(), finalized]);
    return await finalized;
  } finally {
    unsubscribe?.();
  }
}

/**
 * `register_network` by `coldkey` for `hotkey`: creates a subnet whose UID 0 is `hotkey`
 * (the role GRAIL's trainer has). Returns the new netuid.
 */
export async function registerSubnet(
  chopsticks: LocalChopsticks,
  api: ApiPromise,
  coldkey: KeyringPair,
  hotkey: string,
): Promise<number> {
  // The genesis network rate limit (blocks between registrations) would reject a fresh chain.
  // Raw pair: the decoded form treats 0 as "remove", which reads back as the default 10.
  const rateLimit = api.query.subtensorModule!.networkRateLimit!;
  await chopsticks.setStorage([[rateLimit.key(), api.createType("u64", 0).toHex(true)]]);
  const call = api.tx.subtensorModule!.registerNetwork!;
  // spec 218 takes (hotkey, mechid) and accepts only mechanism 1 (dynamic); newer runtimes take (hotkey).
  const tx = call.meta.args.length >= 2 ? call(hotkey, 1) : call(hotkey);
  const included = await submitAndBuild(chopsticks, api, tx, coldkey);
  const added = included.events.find((e) => e.section === "subtensorModule" && e.method === "NetworkAdded");
  if (!added?.data[0]) throw new Error("register_network did not emit NetworkAdded");
  return Number(added.data[0].toString());
}

/** `burned_register(netuid, hotkey)` paid by `coldkey`; returns the hotkey's new UID. */
export async function burnedRegister(
  chopsticks: LocalChopsticks,
  api: ApiPromise,
  coldkey: KeyringPair,
  netuid: number,
  hotkey: string,
): Promise<number> {
  const included = await submitAndBuild(
    chopsticks,
    api,
    api.tx.subtensorModule!.burnedRegister!(netuid, hotkey),
    coldkey,
  );
  const registered = included.events.find(
    (e) => e.section === "subtensorModule" && e.method === "NeuronRegistered",
  );
  if (!registered?.data[1]) throw new Error("burned_register did not emit NeuronRegistered");
  return Number(registered.data[1].toString());
}
