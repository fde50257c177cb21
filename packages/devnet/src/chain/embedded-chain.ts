import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { verifySignature } from "@grail/chain";
import { CommitRejectedError, NotRegisteredError, UnknownBlockError } from "../errors.js";

export interface EmbeddedChainOptions {
  /** Milliseconds between blocks. */
  blockTimeMs: number;
  /** Number of the head when the chain starts; the first produced block is `startBlock + 1`. */
  startBlock?: number;
  /** Hashes are a function of this seed and the block number only, so runs are reproducible. */
  seed?: string;
  netuid?: number;
  /** Blocks between two commitments of one hotkey (the runtime's RateLimit); default 0 (none). */
  commitRateLimitBlocks?: number;
  now?: () => number;
}

export interface StoredCommitment {
  readonly hotkey: string;
  readonly data: Uint8Array;
  readonly block: number;
}

const encoder = new TextEncoder();

/** The bytes a hotkey signs to set its commitment on the embedded chain (stands in for the extrinsic). */
export function commitmentMessage(netuid: number, data: Uint8Array): Uint8Array {
  const prefix = encoder.encode(`grail-devnet-commit|${netuid}|`);
  const out = new Uint8Array(prefix.length + data.length);
  out.set(prefix, 0);
  out.set(data, prefix.length);
  return out;
}

/**
 * An in-process chain for the embedded local network: a block clock with a configurable block
 * time, block hashes derived from a seed and the number (`0x` + 64 hex, like chain_getBlockHash),
 * wall-clock block timestamps, one subnet whose UIDs are handed out in registration order (the
 * trainer registers first and gets UID 0), and commitments that only a registered hotkey can set,
 * with its sr25519 signature.
 */
export class EmbeddedChain {
  readonly netuid: number;
  readonly blockTimeMs: number;
  private readonly seed: string;
  private readonly now: () => number;
  private readonly rateLimit: number;
  private head: number;
  private readonly timestamps = new Map<number, number>();
  private readonly uids = new Map<string, number>();
  private readonly commitments = new Map<string, StoredCommitment>();
  private readonly events = new EventEmitter();
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private ticks = 0;
  private readonly startBlock: number;
  private closed = false;

  constructor(options: EmbeddedChainOptions) {
    if (!(options.blockTimeMs > 0)) {
      throw new RangeError(`blockTimeMs must be positive, got ${options.blockTimeMs}`);
    }
    this.blockTimeMs = options.blockTimeMs;
    this.startBlock = options.startBlock ?? 0;
    if (!Number.isSafeInteger(this.startBlock) || this.startBlock < 0) {
      throw new RangeError(`startBlock must be a non-negative integer, got ${this.startBlock}`);
    }
    this.head = this.startBlock;
    this.seed = options.seed ?? "grail-devnet";
    this.netuid = options.netuid ?? 2;
    this.rateLimit = options.commitRateLimitBlocks ?? 0;
    this.now = options.now ?? Date.now;
    this.events.setMaxListeners(0);
    this.timestamps.set(this.head, this.now());
  }

  /** Starts the block clock (without it, blocks come only from `advance()`). */
  start(): void {
    if (this.timer || this.closed) return;
    this.startedAt = this.now();
    const tick = () => {
      if (this.closed) return;
      this.produce();
      this.ticks += 1;
      // Scheduled against the start time, so the block time does not drift with timer latency.
      const delay = Math.max(0, this.startedAt + (this.ticks + 1) * this.blockTimeMs - this.now());
      this.timer = setTimeout(tick, delay);
    };
    this.timer = setTimeout(tick, this.blockTimeMs);
  }

  private produce(): void {
    this.head += 1;
    this.timestamps.set(this.head, this.now());
    this.events.emit("block", this.head);
  }

  /** Produces `count` blocks at once (manual mode, or to skip ahead). */
  advance(count = 1): number {
    for (let i = 0; i < count; i++) this.produce();
    return this.head;
  }

  get headNumber(): number {
    return this.head;
  }

  async currentBlock(): Promise<number> {
    return this.head;
  }

  /** Hash of block `block` (any block up to the head; earlier ones exist as the chain's history). */
  hashOf(block: number): string {
    if (!Number.isSafeInteger(block) || block < 0) {
      throw new UnknownBlockError(`block number must be a non-negative integer, got ${block}`, { block });
    }
    if (block > this.head) {
      throw new UnknownBlockError(`block ${block} does not exist yet (head is ${this.head})`, {
        block,
        head: this.head,
      });
    }
    const digest = createHash("sha256").update(`grail-devnet-block|${this.seed}|${block}`).digest("hex");
    return `0x${digest}`;
  }

  async blockHash(block: number): Promise<string> {
    return this.hashOf(block);
  }

  /**
   * Unix milliseconds of a block: the wall time it was produced, or for blocks before the start
   * the time they would have had at this block time. Null for blocks not produced yet.
   */
  blockTimestampMs(block: number): number | null {
    if (block > this.head) return null;
    const seen = this.timestamps.get(block);
    if (seen !== undefined) return seen;
    const base = this.timestamps.get(this.startBlock)!;
    return base - (this.startBlock - block) * this.blockTimeMs;
  }

  /** Resolves with the head once it is ≥ target; rejects with the signal's reason when aborted. */
  waitForBlock(target: number, signal?: AbortSignal): Promise<number> {
    if (this.head >= target) return Promise.resolve(this.head);
    return new Promise((resolve, reject) => {
      const onBlock = (n: number) => {
        if (n < target) return;
        cleanup();
        resolve(n);
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const onClose = () => {
        cleanup();
        reject(new UnknownBlockError(`the local chain stopped before block ${target}`, { target }));
      };
      const cleanup = () => {
        this.events.off("block", onBlock);
        this.events.off("close", onClose);
        signal?.removeEventListener("abort", onAbort);
      };
      if (signal?.aborted) return onAbort();
      if (this.closed) return onClose();
      this.events.on("block", onBlock);
      this.events.on("close", onClose);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Calls `listener` with every new block number; returns the unsubscribe function. */
  onBlock(listener: (block: number) => void): () => void {
    this.events.on("block", listener);
    return () => this.events.off("block", listener);
  }

  /** Registers `hotkey` on the subnet (idempotent); returns its UID. */
  register(hotkey: string): number {
    const existing = this.uids.get(hotkey);
    if (existing !== undefined) return existing;
    const uid = this.uids.size;
    this.uids.set(hotkey, uid);
    return uid;
  }

  uidOf(hotkey: string): number | null {
    return this.uids.get(hotkey) ?? null;
  }

  /** uid → hotkey of every neuron. */
  neurons(): Map<number, string> {
    return new Map([...this.uids].map(([hotkey, uid]) => [uid, hotkey]));
  }

  /**
   * Sets `hotkey`'s commitment, as `Commitments.set_commitment` signed by the hotkey would:
   * the signature must verify over `commitmentMessage(netuid, data)`, the hotkey must be a
   * neuron of the subnet, and the rate limit must allow it.
   */
  commit(hotkey: string, data: Uint8Array, signature: Uint8Array): StoredCommitment {
    if (!verifySignature(commitmentMessage(this.netuid, data), signature, hotkey)) {
      throw new CommitRejectedError(`commitment of ${hotkey} is not signed by that hotkey`, { hotkey });
    }
    if (!this.uids.has(hotkey)) {
      throw new NotRegisteredError(
        `${hotkey} is not registered on the local subnet ${this.netuid}; only neurons can commit (AccountNotAllowedCommit)`,
        { hotkey, netuid: this.netuid },
      );
    }
    const previous = this.commitments.get(hotkey);
    if (previous && this.rateLimit > 0 && this.head < previous.block + this.rateLimit) {
      throw new CommitRejectedError(
        `commitment of ${hotkey} is rate limited until block ${previous.block + this.rateLimit}`,
        { hotkey, retryAtBlock: previous.block + this.rateLimit },
      );
    }
    const stored: StoredCommitment = { hotkey, data: Uint8Array.from(data), block: this.head };
    this.commitments.set(hotkey, stored);
    return stored;
  }

  commitmentOf(hotkey: string): StoredCommitment | null {
    return this.commitments.get(hotkey) ?? null;
  }

  /** Every commitment, keyed by hotkey (CommitmentOf entries). */
  allCommitments(): Map<string, StoredCommitment> {
    return new Map(this.commitments);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.events.emit("close");
    this.events.removeAllListeners();
  }
}
