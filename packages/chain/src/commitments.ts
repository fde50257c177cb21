import type { SubtensorClient } from "./client.js";
import { commitmentFirstFieldBytes, decodeCommitmentText } from "./commitment-codec.js";
import { type BucketCredentials, parseCredentialCommitment } from "./credentials.js";
import { readNeuronHotkeys } from "./neurons.js";
import { type ChainView, storage } from "./runtime.js";

/** Why a commitment entry was not turned into a bucket (the reader's filter, spec/chain.md §3.7). */
export type SkipReason = "not-a-neuron" | "not-raw-bytes" | "invalid-utf8" | "not-a-credential";

export interface NeuronBucket {
  readonly uid: number;
  readonly hotkey: string;
  readonly bucket: BucketCredentials;
}

export interface SubnetBuckets {
  /** Block the view was read at: hotkeys and commitments agree with each other. */
  readonly blockHash: string;
  readonly hotkeys: ReadonlyMap<number, string>;
  readonly byUid: ReadonlyMap<number, NeuronBucket>;
  readonly skipped: ReadonlyArray<{ readonly hotkey: string; readonly reason: SkipReason }>;
}

/** Raw first-field bytes of every `CommitmentOf(netuid, ·)` entry, keyed by SS58 account. */
export async function readCommitmentBytes(
  view: ChainView,
  netuid: number,
): Promise<Map<string, Uint8Array | null>> {
  const entries = await storage(view, "Commitments", "CommitmentOf").entries(netuid);
  const out = new Map<string, Uint8Array | null>();
  for (const [key, value] of entries) {
    const account = key.args[1];
    if (!account) continue;
    out.set(account.toString(), commitmentFirstFieldBytes(value));
  }
  return out;
}

/**
 * Joins hotkeys and commitments the way the reference's commitment worker does: stale
 * commitments of accounts that are no longer neurons, non-raw or non-UTF-8 values and
 * strings that are not exactly 128 characters are skipped.
 */
export function joinBuckets(
  hotkeys: ReadonlyMap<number, string>,
  commitments: ReadonlyMap<string, Uint8Array | null>,
): Pick<SubnetBuckets, "byUid" | "skipped"> {
  const uidByHotkey = new Map<string, number>();
  for (const [uid, hotkey] of hotkeys) uidByHotkey.set(hotkey, uid);
  const byUid = new Map<number, NeuronBucket>();
  const skipped: Array<{ hotkey: string; reason: SkipReason }> = [];
  for (const [hotkey, bytes] of commitments) {
    const uid = uidByHotkey.get(hotkey);
    if (uid === undefined) {
      skipped.push({ hotkey, reason: "not-a-neuron" });
      continue;
    }
    if (bytes === null) {
      skipped.push({ hotkey, reason: "not-raw-bytes" });
      continue;
    }
    const text = decodeCommitmentText(bytes);
    if (text === null) {
      skipped.push({ hotkey, reason: "invalid-utf8" });
      continue;
    }
    const bucket = parseCredentialCommitment(text);
    if (!bucket) {
      skipped.push({ hotkey, reason: "not-a-credential" });
      continue;
    }
    byUid.set(uid, { uid, hotkey, bucket });
  }
  return { byUid: new Map([...byUid.entries()].sort((a, b) => a[0] - b[0])), skipped };
}

/** Every neuron's bucket on `netuid`, read at one block (the best head unless given). */
export async function readSubnetBuckets(
  client: SubtensorClient,
  netuid: number,
  blockHash?: string,
): Promise<SubnetBuckets> {
  return client.call(`commitments of subnet ${netuid}`, async () => {
    const hash = blockHash ?? (await client.api.rpc.chain.getHeader()).hash.toHex();
    const view = await client.api.at(hash);
    const [hotkeys, commitments] = await Promise.all([
      readNeuronHotkeys(view, netuid),
      readCommitmentBytes(view, netuid),
    ]);
    return { blockHash: hash, hotkeys, ...joinBuckets(hotkeys, commitments) };
  });
}

/** The decoded first field of one account's commitment (strict UTF-8), or null. */
export async function readCommitmentText(
  view: ChainView,
  netuid: number,
  account: string,
): Promise<string | null> {
  const value = await storage(view, "Commitments", "CommitmentOf")(netuid, account);
  const bytes = commitmentFirstFieldBytes(value);
  return bytes ? decodeCommitmentText(bytes) : null;
}
