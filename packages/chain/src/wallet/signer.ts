import type { Signer as PolkadotSigner, SignerResult } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Registry, SignerPayloadJSON } from "@polkadot/types/types";
import { u8aConcat, u8aEq, u8aToHex, u8aToU8a } from "@polkadot/util";
import { blake2AsU8a, decodeAddress, sr25519Verify } from "@polkadot/util-crypto";
import {
  isReady as wasmCryptoReady,
  waitReady as wasmCryptoWaitReady,
  sr25519Sign as wasmSr25519Sign,
} from "@polkadot/wasm-crypto";
import { WalletError } from "../errors.js";

/** The one holder of the hotkey's secret in the process. */
export interface HotkeySigner {
  readonly ss58: string;
  readonly publicKey: Uint8Array;
  /** sr25519 (context "substrate") over the raw bytes; 64 bytes, randomized. */
  sign(message: Uint8Array): Uint8Array;
}

const BYTES_PREFIX = new TextEncoder().encode("<Bytes>");
const BYTES_SUFFIX = new TextEncoder().encode("</Bytes>");

/**
 * sr25519 verification as the Bittensor keypair does it: the raw message first, then
 * `<Bytes>` ++ message ++ `</Bytes>`. Only sr25519 (unlike polkadot-js signatureVerify,
 * which also tries ed25519/ecdsa); malformed input is simply "not valid".
 */
export function verifySignature(message: Uint8Array, signature: Uint8Array, ss58: string): boolean {
  let publicKey: Uint8Array;
  try {
    publicKey = decodeAddress(ss58);
  } catch {
    return false;
  }
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  if (sr25519Verify(message, signature, publicKey)) return true;
  return sr25519Verify(u8aConcat(BYTES_PREFIX, message, BYTES_SUFFIX), signature, publicKey);
}

// Layout of a keyring pair's unencrypted PKCS8 export (generation 3): header, the 64-byte
// secret (scalar ×8 ‖ nonce), divider, the 32-byte public key.
const PKCS8_HEADER = new Uint8Array([48, 83, 2, 1, 1, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32]);
const PKCS8_DIVIDER = new Uint8Array([161, 35, 3, 33, 0]);
const SECRET_START = PKCS8_HEADER.length;
const SECRET_END = SECRET_START + 64;
const PUBLIC_START = SECRET_END + PKCS8_DIVIDER.length;

/** The pair's 64-byte sr25519 secret, read from its PKCS8 export and checked against its public key. */
function sr25519SecretOf(pair: KeyringPair): Uint8Array {
  if (pair.isLocked) {
    throw new WalletError(`the hotkey pair ${pair.address} is locked; unlock it before building a signer`, {
      ss58: pair.address,
    });
  }
  const pkcs8 = pair.encodePkcs8();
  if (
    pkcs8.length !== PUBLIC_START + 32 ||
    !u8aEq(pkcs8.subarray(0, SECRET_START), PKCS8_HEADER) ||
    !u8aEq(pkcs8.subarray(SECRET_END, PUBLIC_START), PKCS8_DIVIDER) ||
    !u8aEq(pkcs8.subarray(PUBLIC_START), pair.publicKey)
  ) {
    throw new WalletError(
      `the hotkey pair ${pair.address} exports its secret in an unknown layout; @polkadot/keyring 14.x is expected`,
      { ss58: pair.address },
    );
  }
  return pkcs8.slice(SECRET_START, SECRET_END);
}

/**
 * Signs with a keyring pair's sr25519 key through @polkadot/wasm-crypto (schnorrkel), several
 * times faster than the pure-JS sr25519 that pair.sign uses in @polkadot/util-crypto 14; the
 * coordinator signs twice per rollout. The signer keeps its own copy of the secret in a
 * private field and prints and serializes as its address only.
 *
 * Build it after `await cryptoWaitReady()`. Where that initialised another copy of the WASM
 * module (a CommonJS caller of this ESM package gets its own), the signer starts initialising
 * this one and signs through the keyring pair until it is ready, so it is never unusable; it
 * lets go of the pair once the WASM signs.
 */
export class KeyringHotkeySigner implements HotkeySigner {
  readonly ss58: string;
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  #untilWasmReady: KeyringPair | undefined;

  constructor(pair: KeyringPair) {
    if (pair.type !== "sr25519") throw new TypeError(`hotkeys are sr25519, got ${pair.type}`);
    this.#secretKey = sr25519SecretOf(pair);
    this.ss58 = pair.address;
    this.publicKey = pair.publicKey.slice();
    if (!wasmCryptoReady()) {
      this.#untilWasmReady = pair;
      // A failed initialisation leaves isReady() false: the pair keeps signing.
      wasmCryptoWaitReady().catch(() => false);
    }
  }

  sign(message: Uint8Array): Uint8Array {
    const data = u8aToU8a(message);
    if (this.#untilWasmReady !== undefined) {
      if (!wasmCryptoReady()) return this.#untilWasmReady.sign(data);
      this.#untilWasmReady = undefined;
    }
    return wasmSr25519Sign(this.publicKey, this.#secretKey, data);
  }

  toJSON(): { ss58: string } {
    return { ss58: this.ss58 };
  }

  toString(): string {
    return `HotkeySigner(${this.ss58})`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/**
 * Adapts a HotkeySigner to polkadot-js's extrinsic Signer: the payload is encoded as
 * polkadot-js does (blake2-256 when longer than 256 bytes) and the signature gets the
 * sr25519 MultiSignature tag, so no keyring pair ever has to leave the signer.
 */
export function extrinsicSigner(signer: HotkeySigner, registry: Registry): PolkadotSigner {
  let id = 0;
  return {
    async signPayload(payload: SignerPayloadJSON): Promise<SignerResult> {
      if (payload.address !== signer.ss58) {
        throw new Error(`asked to sign for ${payload.address}, but this signer holds ${signer.ss58}`);
      }
      const encoded = registry
        .createType("ExtrinsicPayload", payload, { version: payload.version })
        .toU8a({ method: true });
      const data = encoded.length > 256 ? blake2AsU8a(encoded) : encoded;
      const signature = signer.sign(data);
      return { id: ++id, signature: u8aToHex(u8aConcat(new Uint8Array([1]), signature)) };
    },
  };
}
