import { type BasicLogger, silentLogger } from "@grail/log";
import { combineRandomness, DRAND_QUICKNET, drandRoundAt, noDrandRandomness } from "@grail/protocol";
import { bls12_381 } from "@noble/curves/bls12-381.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { DrandUnavailableError, DrandVerificationError } from "./errors.js";

/**
 * Group public key of drand quicknet (scheme bls-unchained-g1-rfc9380: signatures on G1,
 * key on G2), as served by `/{chain hash}/info`.
 */
export const QUICKNET_PUBLIC_KEY =
  "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
const QUICKNET_DST = "BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

export interface DrandBeacon {
  readonly round: number;
  /** 64 lowercase hex: sha256 of the signature. */
  readonly randomness: string;
  /** 96 hex: compressed G1 point. */
  readonly signature: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX96 = /^[0-9a-f]{96}$/;

/** Checks the relay's JSON shape; extra fields are ignored. */
export function parseBeacon(body: unknown): DrandBeacon {
  const record = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const { round, randomness, signature } = record;
  if (typeof round !== "number" || !Number.isSafeInteger(round) || round < 1) {
    throw new DrandVerificationError("beacon has no valid round", { round });
  }
  if (typeof randomness !== "string" || !HEX64.test(randomness.toLowerCase())) {
    throw new DrandVerificationError("beacon randomness is not 32 bytes of hex", { round });
  }
  if (typeof signature !== "string" || !HEX96.test(signature.toLowerCase())) {
    throw new DrandVerificationError("beacon signature is not a 48-byte G1 point in hex", { round });
  }
  return { round, randomness: randomness.toLowerCase(), signature: signature.toLowerCase() };
}

/**
 * Unchained quicknet verification: the signature is a BLS signature on
 * sha256(round as u64 big-endian) under the group key, and the randomness is
 * sha256(signature).
 */
export function verifyQuicknetBeacon(
  beacon: DrandBeacon,
  publicKeyHex: string = QUICKNET_PUBLIC_KEY,
): boolean {
  try {
    const signature = hexToBytes(beacon.signature);
    if (bytesToHex(sha256(signature)) !== beacon.randomness) return false;
    const roundBytes = new Uint8Array(8);
    new DataView(roundBytes.buffer).setBigUint64(0, BigInt(beacon.round));
    const scheme = bls12_381.shortSignatures;
    const message = scheme.hash(sha256(roundBytes), QUICKNET_DST);
    return scheme.verify(signature, message, hexToBytes(publicKeyHex));
  } catch {
    // malformed points are invalid beacons, not crashes
    return false;
  }
}

export interface DrandClientOptions {
  /** Relay base URLs, tried in order; default quicknet's public relays. */
  readonly relays?: readonly string[];
  readonly chainHash?: string;
  readonly publicKeyHex?: string;
  /** Per-relay request limit (the reference uses 10 s). */
  readonly timeoutMs?: number;
  /**
   * Oldest acceptable round, as rounds behind the round due now: a relay replaying an
   * old (validly signed) beacon is treated as failing.
   */
  readonly maxLagRounds?: number;
  /** Clock in Unix seconds; tests pin it to the recorded beacons' time. */
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  readonly logger?: BasicLogger;
}

export interface FetchedBeacon {
  readonly beacon: DrandBeacon;
  readonly relay: string;
}

/** Quicknet over HTTPS relays with verification, timeouts and failover. */
export class DrandClient {
  readonly relays: readonly string[];
  readonly #chainHash: string;
  readonly #publicKeyHex: string;
  readonly #timeoutMs: number;
  readonly #maxLagRounds: number;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #logger: BasicLogger;

  constructor(options: DrandClientOptions = {}) {
    this.relays = (options.relays ?? DRAND_QUICKNET.relays).map((r) => r.replace(/\/+$/, ""));
    this.#chainHash = options.chainHash ?? DRAND_QUICKNET.chainHash;
    this.#publicKeyHex = options.publicKeyHex ?? QUICKNET_PUBLIC_KEY;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxLagRounds = options.maxLagRounds ?? 20;
    this.#now = options.now ?? (() => Date.now() / 1000);
    this.#fetch = options.fetch ?? fetch;
    this.#logger = options.logger ?? silentLogger;
  }

  async #fromRelay(relay: string, path: string, expectedRound: number | null): Promise<DrandBeacon> {
    const url = `${relay}/${this.#chainHash}/public/${path}`;
    const response = await this.#fetch(url, {
      signal: AbortSignal.timeout(this.#timeoutMs),
      headers: { accept: "application/json" },
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new DrandUnavailableError(`HTTP ${response.status}`, { url });
    }
    const beacon = parseBeacon(await response.json());
    if (expectedRound !== null && beacon.round !== expectedRound) {
      throw new DrandVerificationError(`asked for round ${expectedRound}, got ${beacon.round}`, { url });
    }
    if (!verifyQuicknetBeacon(beacon, this.#publicKeyHex)) {
      throw new DrandVerificationError(`beacon of round ${beacon.round} does not verify`, { url });
    }
    if (expectedRound === null) {
      const due = drandRoundAt(this.#now());
      if (beacon.round < due - this.#maxLagRounds) {
        throw new DrandVerificationError(`relay serves round ${beacon.round}, but round ${due} is due`, {
          url,
        });
      }
    }
    return beacon;
  }

  async #firstVerified(path: string, expectedRound: number | null): Promise<FetchedBeacon> {
    const failures: Array<{ relay: string; error: string }> = [];
    for (const relay of this.relays) {
      try {
        return { beacon: await this.#fromRelay(relay, path, expectedRound), relay };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ relay, error: message });
        this.#logger.warn("drand relay failed", { relay, error: message });
      }
    }
    throw new DrandUnavailableError(`no drand relay returned a verified beacon (${path})`, { failures });
  }

  /** The latest verified beacon from the first relay that serves one. */
  latest(): Promise<FetchedBeacon> {
    return this.#firstVerified("latest", null);
  }

  /** A specific round, verified. */
  round(round: number): Promise<FetchedBeacon> {
    if (!Number.isSafeInteger(round) || round < 1) throw new RangeError(`invalid drand round ${round}`);
    return this.#firstVerified(String(round), round);
  }
}

export interface WindowRandomness {
  /** 64 lowercase hex, no 0x: beacon.randomness of every rollout of the window. */
  readonly randomness: string;
  /** The `use_drand` column: true only when a verified beacon went into the mix. */
  readonly useDrand: boolean;
  readonly drandRound: number | null;
}

/**
 * The window's randomness from the window-start block hash and, unless disabled, the
 * latest verified drand beacon. When drand is off or every relay fails, the spec's
 * no-drand value is used (never random bytes) and `useDrand` is false.
 */
export async function windowRandomness(
  blockHash: string,
  drand: DrandClient | null,
  logger: BasicLogger = silentLogger,
): Promise<WindowRandomness> {
  if (!drand) return { randomness: noDrandRandomness(blockHash), useDrand: false, drandRound: null };
  try {
    const { beacon } = await drand.latest();
    return {
      randomness: combineRandomness(blockHash, beacon.randomness),
      useDrand: true,
      drandRound: beacon.round,
    };
  } catch (error) {
    logger.warn("drand unavailable; using the block-hash-only randomness for this window", {
      error: error instanceof Error ? error.message : String(error),
    });
    return { randomness: noDrandRandomness(blockHash), useDrand: false, drandRound: null };
  }
}
