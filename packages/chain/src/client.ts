import { ApiPromise, WsProvider } from "@polkadot/api";
import { BlockNotFoundError, ChainConnectionError } from "./errors.js";
import { SUBTENSOR_SIGNED_EXTENSIONS } from "./extensions.js";
import { type ChainLogger, silentLogger } from "./logger.js";
import { type CallPolicy, callWithRetry, DEFAULT_CALL_POLICY, withTimeout } from "./retry.js";

export interface ReconnectPolicy {
  /** First wait after the socket drops. */
  readonly initialDelayMs: number;
  /** Waits double after each failed attempt up to this cap. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = { initialDelayMs: 500, maxDelayMs: 30_000 };

export interface SubtensorClientOptions {
  /** Resolved websocket URL (see resolveEndpoint); reconnects always return to it. */
  readonly url: string;
  readonly callPolicy?: CallPolicy;
  readonly reconnect?: ReconnectPolicy;
  /** How long to wait for the first connection and metadata (BT_INIT_TIMEOUT, default 120 s). */
  readonly connectTimeoutMs?: number;
  readonly logger?: ChainLogger;
}

export interface HeadInfo {
  readonly number: number;
  /** "0x" + 64 lowercase hex digits. */
  readonly hash: string;
}

const BLOCK_HASH_CACHE_SIZE = 128;
const TIMESTAMP_NOW_KEY = "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb";

/**
 * One ApiPromise over one WsProvider to a subtensor node. Reads go through the call
 * policy (per-attempt timeout, bounded retries with exponential backoff); a dropped
 * socket is reopened to the same URL with exponential backoff, and the API re-creates
 * its subscriptions when it comes back.
 */
export class SubtensorClient {
  readonly url: string;
  readonly api: ApiPromise;
  readonly callPolicy: CallPolicy;
  readonly #provider: WsProvider;
  readonly #reconnect: ReconnectPolicy;
  readonly #logger: ChainLogger;
  readonly #hashCache = new Map<number, string>();
  #reconnectDelayMs: number;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #reconnects = 0;

  private constructor(provider: WsProvider, api: ApiPromise, options: SubtensorClientOptions) {
    this.url = options.url;
    this.api = api;
    this.callPolicy = options.callPolicy ?? DEFAULT_CALL_POLICY;
    this.#provider = provider;
    this.#reconnect = options.reconnect ?? DEFAULT_RECONNECT_POLICY;
    this.#reconnectDelayMs = this.#reconnect.initialDelayMs;
    this.#logger = options.logger ?? silentLogger;
    provider.on("disconnected", () => this.#scheduleReconnect());
    provider.on("connected", () => {
      if (this.#reconnectDelayMs !== this.#reconnect.initialDelayMs) {
        this.#logger.info("chain connection restored", { url: this.url });
      }
      this.#reconnectDelayMs = this.#reconnect.initialDelayMs;
    });
  }

  static async connect(options: SubtensorClientOptions): Promise<SubtensorClient> {
    const timeoutMs = options.connectTimeoutMs ?? 120_000;
    const policy = options.callPolicy ?? DEFAULT_CALL_POLICY;
    // autoConnect off: the client owns reconnection so it can back off exponentially.
    const provider = new WsProvider(options.url, false, {}, policy.timeoutMs);
    const api = new ApiPromise({
      provider,
      signedExtensions: SUBTENSOR_SIGNED_EXTENSIONS,
      noInitWarn: true,
    });
    // The API emits 'error' while the node is unreachable; the reconnect loop handles it.
    api.on("error", () => {});
    const client = new SubtensorClient(provider, api, options);
    try {
      await provider.connect();
      await withTimeout(api.isReady, timeoutMs, `connecting to ${options.url}`);
    } catch (error) {
      await client.close();
      throw new ChainConnectionError(
        `cannot connect to the chain at ${options.url} within ${timeoutMs} ms. ` +
          "Check BT_NETWORK / BT_CHAIN_ENDPOINT and that the node is reachable.",
        { url: options.url },
        { cause: error },
      );
    }
    return client;
  }

  get isConnected(): boolean {
    return this.#provider.isConnected;
  }

  /** Times the socket was reopened after a drop. */
  get reconnectCount(): number {
    return this.#reconnects;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const delay = this.#reconnectDelayMs;
    this.#reconnectDelayMs = Math.min(this.#reconnect.maxDelayMs, delay * 2);
    this.#logger.warn("chain connection lost; reconnecting", { url: this.url, delayMs: delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#closed || this.#provider.isConnected) return;
      this.#reconnects++;
      this.#provider.connect().catch(() => this.#scheduleReconnect());
    }, delay);
  }

  /** Runs a read under the client's call policy. */
  call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return callWithRetry(what, fn, this.callPolicy, {
      onRetry: (error, attempt, delayMs) =>
        this.#logger.warn(`${what} failed; retrying`, {
          attempt,
          delayMs,
          error: error instanceof Error ? error.message : String(error),
        }),
    });
  }

  /** Number of the best (not finalized) head: windows are computed from it on both sides. */
  currentBlock(): Promise<number> {
    return this.call("current block", async () => {
      const header = await this.api.rpc.chain.getHeader();
      return header.number.toNumber();
    });
  }

  /** Best head number and hash. */
  head(): Promise<HeadInfo> {
    return this.call("chain head", async () => {
      const header = await this.api.rpc.chain.getHeader();
      return { number: header.number.toNumber(), hash: header.hash.toHex() };
    });
  }

  /**
   * Hash of block `n` exactly as chain_getBlockHash returns it ("0x" + 64 lowercase hex).
   * An unknown number (future or pruned) is retried and then reported as BlockNotFoundError.
   */
  async blockHash(n: number): Promise<string> {
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RangeError(`block number must be a non-negative integer, got ${n}`);
    const cached = this.#hashCache.get(n);
    if (cached) return cached;
    const hash = await this.call(`block hash of #${n}`, async () => {
      const result = await this.#provider.send<string | null>("chain_getBlockHash", [n]);
      if (typeof result !== "string" || !/^0x[0-9a-f]{64}$/.test(result)) {
        throw new BlockNotFoundError(`the node has no block #${n} yet`, { block: n, result });
      }
      return result;
    });
    this.#hashCache.set(n, hash);
    if (this.#hashCache.size > BLOCK_HASH_CACHE_SIZE) {
      const oldest = this.#hashCache.keys().next().value;
      if (oldest !== undefined) this.#hashCache.delete(oldest);
    }
    return hash;
  }

  /** On-chain `Timestamp.Now` (Unix milliseconds) of the block with this hash. */
  blockTimestampMs(hash: string): Promise<number> {
    return this.call(`timestamp of ${hash}`, async () => {
      const raw = await this.#provider.send<string | null>("state_getStorage", [TIMESTAMP_NOW_KEY, hash]);
      if (typeof raw !== "string" || raw.length !== 18) {
        throw new BlockNotFoundError(`no Timestamp.Now stored at ${hash}`, { hash, raw });
      }
      // u64 little-endian
      let value = 0n;
      for (let i = 8; i >= 1; i--)
        value = (value << 8n) | BigInt(Number.parseInt(raw.slice(2 * i, 2 * i + 2), 16));
      return Number(value);
    });
  }

  /** Calls `onHead` for every new best head; the returned function unsubscribes. */
  async subscribeNewHeads(onHead: (head: HeadInfo) => void): Promise<() => void> {
    const unsubscribe = await this.api.rpc.chain.subscribeNewHeads((header) => {
      onHead({ number: header.number.toNumber(), hash: header.hash.toHex() });
    });
    return unsubscribe;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    await this.api.disconnect().catch(() => {});
  }
}
