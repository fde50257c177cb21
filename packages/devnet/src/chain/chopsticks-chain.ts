import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import path from "node:path";
import {
  ensureCredentialsCommitted,
  readSubnetBuckets,
  readUid,
  SubtensorClient,
  WindowClock,
} from "@grail/chain";
import {
  burnedRegister,
  fundAccounts,
  type LocalChopsticks,
  registerSubnet,
  startLocalChopsticks,
} from "@grail/chain/testing";
import { WINDOW_LENGTH } from "@grail/protocol";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { DevnetStartError } from "../errors.js";
import type { LocalChain } from "./local-chain.js";

export interface ChopsticksChainOptions {
  /** Raw subtensor chain spec whose genesis holds the runtime (e.g. raonet spec 218). */
  genesis: string;
  blockTimeMs: number;
  /** Registered first, by creating the subnet: it becomes UID 0, the trainer's role. */
  trainerHotkey: string;
  /** Also registered before blocks start (burned_register). */
  hotkeys?: readonly string[];
  startupTimeoutMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** chopsticks' CLI, resolved from this package (it lists chopsticks among its dependencies). */
function chopsticksBin(): string {
  const main = createRequire(import.meta.url).resolve("@acala-network/chopsticks");
  return path.resolve(path.dirname(main), "..", "..", "chopsticks.cjs");
}

/**
 * A real subtensor runtime under chopsticks behind the LocalChain interface: the subnet is created
 * by the trainer's hotkey (UID 0), the given hotkeys are registered with burned_register paid by a
 * throwaway funded coldkey, the head is moved to the last block before a window, and from then on
 * a block is built every `blockTimeMs`. Admin steps (registrations) pause the block timer so their
 * extrinsic lands in the block they build themselves.
 */
export async function startChopsticksChain(options: ChopsticksChainOptions): Promise<LocalChain> {
  try {
    return await startOnce(options);
  } catch (err) {
    // The runtime now and then refuses the first extrinsic of a fresh chain (badProof); a fresh
    // start of the same genesis goes through.
    options.log?.("subtensor runtime set-up failed; starting it again", { error: (err as Error).message });
    return startOnce(options);
  }
}

async function startOnce(options: ChopsticksChainOptions): Promise<LocalChain> {
  const log = options.log ?? (() => undefined);
  let chopsticks: LocalChopsticks;
  try {
    chopsticks = await startLocalChopsticks({
      genesis: options.genesis,
      bin: chopsticksBin(),
      buildBlockMode: "Manual",
      ...(options.startupTimeoutMs ? { startupTimeoutMs: options.startupTimeoutMs } : {}),
    });
  } catch (err) {
    throw new DevnetStartError(
      `the subtensor runtime did not start under chopsticks from ${options.genesis}: ${(err as Error).message}`,
      { part: "chain", genesis: options.genesis },
      { cause: err },
    );
  }
  let client: SubtensorClient | null = null;
  try {
    client = await SubtensorClient.connect({ url: chopsticks.endpoint, connectTimeoutMs: 60_000 });
    await cryptoWaitReady();
    const owner: KeyringPair = new Keyring({ type: "sr25519" }).addFromUri("//GrailDevnetOwner");
    await fundAccounts(chopsticks, [owner.address]);
    const netuid = await registerSubnet(chopsticks, client.api, owner, options.trainerHotkey);
    for (const hotkey of options.hotkeys ?? []) {
      await burnedRegister(chopsticks, client.api, owner, netuid, hotkey);
    }
    // Start at the last block of a window, so the first window the miner sees begins at once.
    const head = await client.currentBlock();
    const lastOfWindow = Math.ceil((head + 2) / WINDOW_LENGTH) * WINDOW_LENGTH - 1;
    await chopsticks.newBlock(1, { unsafeBlockHeight: lastOfWindow });
    log("subtensor runtime under chopsticks ready", {
      endpoint: chopsticks.endpoint,
      netuid,
      head: lastOfWindow,
    });
    return new ChopsticksChain(chopsticks, client, owner, netuid, options.blockTimeMs, lastOfWindow);
  } catch (err) {
    await client?.close().catch(() => undefined);
    await chopsticks.close();
    if (err instanceof DevnetStartError) throw err;
    throw new DevnetStartError(
      `setting up the subnet on the local subtensor runtime failed: ${(err as Error).message}`,
      { part: "chain" },
      { cause: err },
    );
  }
}

class ChopsticksChain implements LocalChain {
  readonly kind = "chopsticks" as const;
  readonly endpoint: string;
  private readonly clock: WindowClock;
  private readonly events = new EventEmitter();
  private readonly timestamps = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private building: Promise<void> = Promise.resolve();
  private paused = 0;
  private closed = false;
  private lastBuildAt = 0;

  constructor(
    private readonly chopsticks: LocalChopsticks,
    private readonly client: SubtensorClient,
    private readonly owner: KeyringPair,
    readonly netuid: number,
    readonly blockTimeMs: number,
    head: number,
  ) {
    this.endpoint = chopsticks.endpoint;
    this.clock = new WindowClock(client, { pollIntervalMs: Math.max(100, Math.floor(blockTimeMs / 4)) });
    this.events.setMaxListeners(0);
    this.timestamps.set(head, Date.now());
  }

  start(): void {
    if (this.timer || this.closed) return;
    this.lastBuildAt = Date.now();
    this.schedule();
  }

  // A block starts one block time after the previous one started, or at once when building took
  // longer: blocks stretch on a busy machine but never come in catch-up bursts, which would pull a
  // window's deadline block earlier than the miner's measured block time lets it plan for.
  private schedule(): void {
    if (this.closed) return;
    const delay = Math.max(0, this.lastBuildAt + this.blockTimeMs - Date.now());
    this.timer = setTimeout(() => {
      this.lastBuildAt = Date.now();
      if (this.paused === 0) this.building = this.build();
      void this.building.then(() => this.schedule());
    }, delay);
  }

  private async build(): Promise<void> {
    try {
      await this.chopsticks.newBlock();
      const head = await this.client.currentBlock();
      this.timestamps.set(head, Date.now());
      this.events.emit("block", head);
    } catch {
      // A failed build (e.g. while closing) is retried at the next tick.
    }
  }

  /** Runs an admin step with the block timer held, so it builds its own block. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.paused += 1;
    try {
      await this.building;
      return await fn();
    } finally {
      this.paused -= 1;
    }
  }

  currentBlock(): Promise<number> {
    return this.client.currentBlock();
  }

  blockHash(block: number): Promise<string> {
    return this.client.blockHash(block);
  }

  waitForBlock(target: number, signal?: AbortSignal): Promise<number> {
    return this.clock.waitForBlock(target, signal);
  }

  async blockTimestampMs(block: number): Promise<number | null> {
    const seen = this.timestamps.get(block);
    if (seen !== undefined) return seen;
    if (block > (await this.client.currentBlock())) return null;
    return this.client.blockTimestampMs(await this.client.blockHash(block));
  }

  uidOf(hotkey: string): Promise<number | null> {
    return this.client.call(`uid of ${hotkey}`, () => readUid(this.client.api, this.netuid, hotkey));
  }

  async register(hotkey: string): Promise<number> {
    const existing = await this.uidOf(hotkey);
    if (existing !== null) return existing;
    return this.exclusive(() =>
      burnedRegister(this.chopsticks, this.client.api, this.owner, this.netuid, hotkey),
    );
  }

  async commitCredentials(
    signer: Parameters<LocalChain["commitCredentials"]>[0],
    credentials: Parameters<LocalChain["commitCredentials"]>[1],
  ) {
    const commit = () => ensureCredentialsCommitted(this.client, signer, this.netuid, credentials);
    // Before the block timer runs (set-up), the commit builds its own block.
    const outcome = this.timer
      ? await commit()
      : await this.exclusive(async () => {
          const stopBuilding = this.chopsticks.autoBuildBlocks();
          try {
            return await commit();
          } finally {
            await stopBuilding();
          }
        });
    if (outcome.status === "rate-limited") {
      throw new DevnetStartError(
        `the runtime rate-limits ${signer.ss58}'s commitment until block ${outcome.retryAtBlock}; a fresh local network has no earlier commitment, so this should not happen`,
        { part: "chain", hotkey: signer.ss58 },
      );
    }
    return outcome.status;
  }

  async buckets() {
    const view = await readSubnetBuckets(this.client, this.netuid);
    return new Map(view.byUid);
  }

  onBlock(listener: (block: number) => void): () => void {
    this.events.on("block", listener);
    return () => this.events.off("block", listener);
  }

  async subscribeHeads(onHead: (block: number) => void): Promise<() => void> {
    return this.onBlock(onHead);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.building.catch(() => undefined);
    this.events.removeAllListeners();
    await this.client.close().catch(() => undefined);
    await this.chopsticks.close();
  }
}
