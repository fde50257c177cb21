import { type BasicLogger, silentLogger } from "@grail/log";
import { type Backoff, exponentialBackoff } from "@grail/util";
import { ApiPromise, WsProvider } from "@polkadot/api";
import { type CallPolicy, callWithRetry, DEFAULT_CALL_POLICY, withTimeout } from "./call-policy.js";
import { BlockNotFoundError, ChainConnectionError } from "./errors.js";
import { SUBTENSOR_SIGNED_EXTENSIONS } from "./extensions.js";

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
  /** How long to wait for a connection and its metadata (BT_INIT_TIMEOUT, default 120 s). */
  readonly connectTimeoutMs?: number;
  /**
   * With a failed call pending, no success for this long means the socket is presumed
   * half-open and the connection is rebuilt before the next call (default 60 s).
   */
  readonly staleAfterMs?: number;
  /** Calls that exhausted their retries in a row before the connection is rebuilt (default 2). */
  readonly rebuildAfterFailures?: number;
  readonly logger?: BasicLogger;
}

export interface HeadInfo {
  readonly number: number;
  /** "0x" + 64 lowercase hex digits. */
  readonly hash: string;
}

interface Connection {
  readonly provider: WsProvider;
  readonly api: ApiPromise;
}

const BLOCK_HASH_CACHE_SIZE = 128;
const TIMESTAMP_NOW_KEY = "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb";

/**
 * A subtensor node behind one websocket URL. Reads go through the call policy
 * (per-attempt timeout, bounded retries with exponential backoff). A dropped socket is
 * reopened to the same URL with exponential backoff; a socket that stays open but stops
 * answering (repeated exhausted calls, or no success for `staleAfterMs`) is replaced by
 * a fresh connection. Head subscriptions made through the client survive both.
 */
export class SubtensorClient {
  readonly url: string;
  readonly callPolicy: CallPolicy;
  readonly #connectTimeoutMs: number;
  readonly #staleAfterMs: number;
  readonly #rebuildAfterFailures: number;
  readonly #logger: BasicLogger;
  readonly #hashCache = new Map<number, string>();
  readonly #headListeners = new Set<(head: HeadInfo) => void>();
  #connection: Connection;
  #headUnsubscribe: Promise<(() => void) | undefined> | undefined;
  readonly #reconnectBackoff: Backoff;
  /** Reconnects scheduled since the socket was last connected. */
  #reconnectAttempts = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #rebuilding: Promise<void> | undefined;
  #closed = false;
  #reconnects = 0;
  #rebuilds = 0;
  #lastSuccessAt = Date.now();
  #failedCallsInARow = 0;

  private constructor(options: SubtensorClientOptions) {
    this.url = options.url;
    this.callPolicy = options.callPolicy ?? DEFAULT_CALL_POLICY;
    const reconnect = options.reconnect ?? DEFAULT_RECONNECT_POLICY;
    this.#reconnectBackoff = exponentialBackoff({
      baseMs: reconnect.initialDelayMs,
      capMs: reconnect.maxDelayMs,
    });
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 120_000;
    this.#staleAfterMs = options.staleAfterMs ?? 60_000;
    this.#rebuildAfterFailures = options.rebuildAfterFailures ?? 2;
    this.#logger = options.logger ?? silentLogger;
    this.#connection = this.#createConnection();
  }

  static async connect(options: SubtensorClientOptions): Promise<SubtensorClient> {
    const client = new SubtensorClient(options);
    try {
      await client.#open(client.#connection);
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** The current ApiPromise; it changes when the connection is rebuilt, so do not keep it. */
  get api(): ApiPromise {
    return this.#connection.api;
  }

  get isConnected(): boolean {
    return this.#connection.provider.isConnected;
  }

  /** Times a dropped socket was reopened. */
  get reconnectCount(): number {
    return this.#reconnects;
  }

  /** Times an unresponsive connection was replaced. */
  get rebuildCount(): number {
    return this.#rebuilds;
  }

  #createConnection(): Connection {
    // autoConnect off: the client owns reconnection so it can back off exponentially.
    // The provider's own request timeout is only a backstop (it also bounds metadata
    // loading); calls are bounded by the call policy.
    const provider = new WsProvider(this.url, false, {}, Math.max(this.callPolicy.timeoutMs, 60_000));
    const api = new ApiPromise({ provider, signedExtensions: SUBTENSOR_SIGNED_EXTENSIONS, noInitWarn: true });
    // The API emits 'error' (and rejects isReadyOrError) while the node is unreachable;
    // the reconnect loop handles that, and an unhandled rejection would end the process.
    api.on("error", () => {});
    api.isReadyOrError.catch(() => {});
    const connection = { provider, api };
    provider.on("disconnected", () => {
      if (connection === this.#connection) this.#scheduleReconnect();
    });
    provider.on("connected", () => {
      if (connection !== this.#connection) return;
      if (this.#reconnectAttempts > 0) {
        this.#logger.info("chain connection restored", { url: this.url });
      }
      this.#reconnectAttempts = 0;
    });
    return connection;
  }

  async #open(connection: Connection): Promise<void> {
    try {
      await connection.provider.connect();
      await withTimeout(connection.api.isReady, this.#connectTimeoutMs, `connecting to ${this.url}`);
    } catch (error) {
      throw new ChainConnectionError(
        `cannot connect to the chain at ${this.url} within ${this.#connectTimeoutMs} ms. ` +
          "Check BT_NETWORK / BT_CHAIN_ENDPOINT and that the node is reachable.",
        { url: this.url },
        { cause: error },
      );
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    this.#reconnectAttempts++;
    const delay = this.#reconnectBackoff(this.#reconnectAttempts, null);
    this.#logger.warn("chain connection lost; reconnecting", { url: this.url, delayMs: delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      const { provider } = this.#connection;
      if (this.#closed || provider.isConnected) return;
      this.#reconnects++;
      provider.connect().catch(() => this.#scheduleReconnect());
    }, delay);
  }

  /**
   * Replaces the connection with a fresh one to the same URL, for a socket that is open
   * but no longer answers. Concurrent requests share one rebuild.
   */
  rebuildConnection(): Promise<void> {
    this.#rebuilding ??= (async () => {
      this.#logger.warn("chain connection unresponsive; opening a new one", { url: this.url });
      const fresh = this.#createConnection();
      const old = this.#connection;
      try {
        await this.#open(fresh);
      } catch (error) {
        await fresh.api.disconnect().catch(() => {});
        throw error;
      }
      if (this.#closed) {
        await fresh.api.disconnect().catch(() => {});
        return;
      }
      this.#connection = fresh;
      this.#rebuilds++;
      this.#failedCallsInARow = 0;
      this.#lastSuccessAt = Date.now();
      const oldHeads = this.#headUnsubscribe;
      this.#headUnsubscribe = undefined;
      if (this.#headListeners.size > 0) this.#ensureHeadSubscription();
      oldHeads?.then((unsubscribe) => unsubscribe?.()).catch(() => {});
      // A half-open socket may take long to close; do not wait for it.
      old.api.disconnect().catch(() => {});
    })().finally(() => {
      this.#rebuilding = undefined;
    });
    return this.#rebuilding;
  }

  /** Runs a read under the client's call policy, rebuilding a connection that went stale. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#failedCallsInARow > 0 && Date.now() - this.#lastSuccessAt > this.#staleAfterMs) {
      await this.rebuildConnection().catch(() => {});
    }
    try {
      const value = await callWithRetry(what, fn, this.callPolicy, {
        onRetry: (error, attempt, delayMs) =>
          this.#logger.warn(`${what} failed; retrying`, {
            attempt,
            delayMs,
            error: error instanceof Error ? error.message : String(error),
          }),
      });
      this.#failedCallsInARow = 0;
      this.#lastSuccessAt = Date.now();
      return value;
    } catch (error) {
      this.#failedCallsInARow++;
      if (this.#failedCallsInARow >= this.#rebuildAfterFailures && !this.#closed) {
        this.rebuildConnection().catch((e: unknown) =>
          this.#logger.warn("rebuilding the chain connection failed", {
            error: e instanceof Error ? e.message : String(e),
          }),
        );
      }
      throw error;
    }
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
      const result = await this.#connection.provider.send<string | null>("chain_getBlockHash", [n]);
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
      const raw = await this.#connection.provider.send<string | null>("state_getStorage", [
        TIMESTAMP_NOW_KEY,
        hash,
      ]);
      if (typeof raw !== "string" || !/^0x[0-9a-f]{16}$/.test(raw)) {
        throw new BlockNotFoundError(`no Timestamp.Now stored at ${hash}`, { hash, raw });
      }
      // u64 little-endian
      let value = 0n;
      for (let i = 8; i >= 1; i--)
        value = (value << 8n) | BigInt(Number.parseInt(raw.slice(2 * i, 2 * i + 2), 16));
      return Number(value);
    });
  }

  #ensureHeadSubscription(): Promise<(() => void) | undefined> {
    this.#headUnsubscribe ??= this.api.rpc.chain
      .subscribeNewHeads((header) => {
        const head = { number: header.number.toNumber(), hash: header.hash.toHex() };
        for (const listener of this.#headListeners) listener(head);
      })
      .then(
        (unsubscribe) => unsubscribe,
        (error: unknown) => {
          this.#headUnsubscribe = undefined;
          throw error;
        },
      );
    return this.#headUnsubscribe;
  }

  /**
   * Calls `onHead` for every new best head, across reconnects and rebuilt connections;
   * the returned function unsubscribes.
   */
  async subscribeNewHeads(onHead: (head: HeadInfo) => void): Promise<() => void> {
    const listener = (head: HeadInfo) => onHead(head);
    this.#headListeners.add(listener);
    try {
      await this.#ensureHeadSubscription();
    } catch (error) {
      this.#headListeners.delete(listener);
      throw error;
    }
    return () => {
      this.#headListeners.delete(listener);
      if (this.#headListeners.size === 0 && this.#headUnsubscribe) {
        const pending = this.#headUnsubscribe;
        this.#headUnsubscribe = undefined;
        pending.then((unsubscribe) => unsubscribe?.()).catch(() => {});
      }
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#headListeners.clear();
    await this.#connection.api.disconnect().catch(() => {});
  }
}
