import type { Signer as PolkadotSigner, SignerResult } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Registry, SignerPayloadJSON } from "@polkadot/types/types";
import { u8aConcat, u8aToHex, u8aToU8a } from "@polkadot/util";
import { blake2AsU8a, decodeAddress, sr25519Verify } from "@polkadot/util-crypto";

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

/**
 * Wraps a keyring pair so the secret stays in a private field: the object prints and
 * serializes as its address only.
 */
export class KeyringHotkeySigner implements HotkeySigner {
  readonly ss58: string;
  readonly publicKey: Uint8Array;
  readonly #pair: KeyringPair;

  constructor(pair: KeyringPair) {
    if (pair.type !== "sr25519") throw new TypeError(`hotkeys are sr25519, got ${pair.type}`);
    this.#pair = pair;
    this.ss58 = pair.address;
    this.publicKey = pair.publicKey;
  }

  sign(message: Uint8Array): Uint8Array {
    return this.#pair.sign(u8aToU8a(message));
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
