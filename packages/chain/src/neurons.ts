import type { Codec } from "@polkadot/types/types";
import type { SubtensorClient } from "./client.js";
import { HotkeyNotRegisteredError } from "./errors.js";
import { type ChainView, codecNumber, storage } from "./runtime.js";

export interface RegistrationHint {
  /** Wallet (coldkey directory) name, for the btcli command in the message. */
  readonly walletName?: string;
  /** Hotkey file name, for the btcli command in the message. */
  readonly hotkeyName?: string;
  /** Network label or URL for `--subtensor.network`. */
  readonly network?: string;
}

export function registrationCommand(netuid: number, hint: RegistrationHint = {}): string {
  const parts = [
    "btcli subnet register",
    `--netuid ${netuid}`,
    `--wallet.name ${hint.walletName ?? "<wallet>"}`,
    `--wallet.hotkey ${hint.hotkeyName ?? "<hotkey>"}`,
  ];
  if (hint.network) parts.push(`--subtensor.network ${hint.network}`);
  return parts.join(" ");
}

/** UID of `hotkey` on `netuid` from `SubtensorModule.Uids`, or null when not registered. */
export async function readUid(view: ChainView, netuid: number, hotkey: string): Promise<number | null> {
  const value = (await storage(view, "SubtensorModule", "Uids")(netuid, hotkey)) as Codec & {
    isSome?: boolean;
  };
  if (value.isSome === false || value.isEmpty) return null;
  return codecNumber(value);
}

/**
 * The registration check at start: returns the hotkey's UID, or throws
 * HotkeyNotRegisteredError naming the command that registers it. A transport error
 * propagates as such (after the client's retries) and is never read as "not registered".
 */
export async function ensureRegistered(
  client: SubtensorClient,
  netuid: number,
  hotkey: string,
  hint: RegistrationHint = {},
): Promise<number> {
  const uid = await client.call(`registration of ${hotkey} on subnet ${netuid}`, () =>
    readUid(client.api, netuid, hotkey),
  );
  if (uid === null) {
    throw new HotkeyNotRegisteredError(
      `hotkey ${hotkey} is not registered on subnet ${netuid}. Register it first:\n  ${registrationCommand(netuid, hint)}\n` +
        "then start the miner again.",
      { netuid, hotkey },
    );
  }
  return uid;
}

/** uid → hotkey (SS58) of every neuron on the subnet, from `SubtensorModule.Keys`. */
export async function readNeuronHotkeys(view: ChainView, netuid: number): Promise<Map<number, string>> {
  const entries = await storage(view, "SubtensorModule", "Keys").entries(netuid);
  const byUid = new Map<number, string>();
  for (const [key, value] of entries) {
    const uidArg = key.args[1];
    if (!uidArg) continue;
    byUid.set(codecNumber(uidArg), value.toString());
  }
  return new Map([...byUid.entries()].sort((a, b) => a[0] - b[0]));
}

/** Number of UIDs on the subnet (`SubtensorModule.SubnetworkN`). */
export async function readSubnetSize(view: ChainView, netuid: number): Promise<number> {
  return codecNumber(await storage(view, "SubtensorModule", "SubnetworkN")(netuid));
}
