import {
  buildCredentialCommitment,
  type HotkeySigner,
  type NeuronBucket,
  parseCredentialCommitment,
  type ReadCredentials,
} from "@grail/chain";
import type { MiningChain } from "@grail/pipeline";
import { NotRegisteredError } from "../errors.js";
import { commitmentMessage, type EmbeddedChain } from "./embedded-chain.js";

export type CommitStatus = "committed" | "unchanged";

/**
 * The local network's chain as the miner and the local validator use it: the window loop's
 * reads (MiningChain) plus the startup steps (registration check, credential commitment, the
 * subnet's buckets with the trainer's at UID 0). Implemented by the embedded block clock and by
 * a real subtensor runtime under chopsticks.
 */
export type LocalChainKind = "chopsticks" | "embedded";

export interface LocalChain extends MiningChain {
  readonly kind: LocalChainKind;
  readonly netuid: number;
  /** ws:// endpoint of the runtime under chopsticks; null for the embedded chain. */
  readonly endpoint: string | null;
  readonly blockTimeMs: number;
  /** Unix ms at which a block was produced; null when it does not exist yet. */
  blockTimestampMs(block: number): Promise<number | null>;
  uidOf(hotkey: string): Promise<number | null>;
  /** Registers a hotkey on the subnet (the local network's admin step); returns its UID. */
  register(hotkey: string): Promise<number>;
  /** Commits the neuron's read credentials (128 characters) when the chain holds something else. */
  commitCredentials(signer: HotkeySigner, credentials: ReadCredentials): Promise<CommitStatus>;
  /** uid → bucket of every neuron with a readable credential commitment. */
  buckets(): Promise<Map<number, NeuronBucket>>;
  /** Starts producing blocks every `blockTimeMs` (set-up steps run before this). */
  start(): void;
  /** Calls `listener` with every new head number; returns the unsubscribe function. */
  onBlock(listener: (block: number) => void): () => void;
  /** MiningChain's new-head notifications (they feed the miner's block-time estimate). */
  subscribeHeads(onHead: (block: number) => void): Promise<() => void>;
  close(): Promise<void>;
}

/** The embedded block clock behind the LocalChain interface. */
export function embeddedLocalChain(chain: EmbeddedChain): LocalChain {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return {
    kind: "embedded",
    netuid: chain.netuid,
    endpoint: null,
    blockTimeMs: chain.blockTimeMs,
    currentBlock: () => chain.currentBlock(),
    blockHash: (block) => chain.blockHash(block),
    waitForBlock: (target, signal) => chain.waitForBlock(target, signal),
    blockTimestampMs: async (block) => chain.blockTimestampMs(block),
    uidOf: async (hotkey) => chain.uidOf(hotkey),
    register: async (hotkey) => chain.register(hotkey),
    async commitCredentials(signer, credentials) {
      if (chain.uidOf(signer.ss58) === null) {
        throw new NotRegisteredError(
          `hotkey ${signer.ss58} is not registered on the local subnet ${chain.netuid}; the local network registers the miner's hotkey when it starts`,
          { hotkey: signer.ss58, netuid: chain.netuid },
        );
      }
      const text = buildCredentialCommitment(credentials);
      const data = new TextEncoder().encode(text);
      const current = chain.commitmentOf(signer.ss58);
      if (current && Buffer.from(current.data).equals(Buffer.from(data))) return "unchanged";
      chain.commit(signer.ss58, data, signer.sign(commitmentMessage(chain.netuid, data)));
      return "committed";
    },
    async buckets() {
      const out = new Map<number, NeuronBucket>();
      for (const [hotkey, stored] of chain.allCommitments()) {
        const uid = chain.uidOf(hotkey);
        if (uid === null) continue;
        let text: string;
        try {
          text = decoder.decode(stored.data);
        } catch {
          continue;
        }
        const bucket = parseCredentialCommitment(text);
        if (bucket) out.set(uid, { uid, hotkey, bucket });
      }
      return out;
    },
    start: () => chain.start(),
    onBlock: (listener) => chain.onBlock(listener),
    subscribeHeads: async (onHead) => chain.onBlock(onHead),
    close: async () => chain.close(),
  };
}
