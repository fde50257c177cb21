import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { hexToU8a, isHex, u8aEq } from "@polkadot/util";
import { cryptoWaitReady, decodeAddress, encodeAddress, mnemonicValidate } from "@polkadot/util-crypto";
import { WalletError } from "../errors.js";
import type { KeyfileData } from "./keyfile.js";

export const SS58_FORMAT = 42;

export type KeySource = "secretPhrase" | "secretSeed" | "privateKey";

/**
 * btwallet/sp_core store the sr25519 secret scalar in canonical form; polkadot-js keeps
 * it multiplied by the cofactor 8 ("ed25519-compatible"). Shift the little-endian
 * 32-byte scalar left by 3 bits; the 32-byte nonce is unchanged (spec/chain.md §7).
 */
export function canonicalToPolkadotSecret(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== 64) throw new RangeError(`privateKey must be 64 bytes, got ${privateKey.length}`);
  const out = new Uint8Array(64);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const byte = privateKey[i] ?? 0;
    out[i] = ((byte << 3) | carry) & 0xff;
    carry = byte >> 5;
  }
  if (carry !== 0) throw new RangeError("privateKey scalar is not a valid sr25519 scalar (>= 2^253)");
  out.set(privateKey.subarray(32), 32);
  return out;
}

/** The converse: polkadot-js secret → btwallet `privateKey` (right shift by 3 bits). */
export function polkadotToCanonicalSecret(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 64) throw new RangeError(`secret key must be 64 bytes, got ${secretKey.length}`);
  const out = new Uint8Array(64);
  for (let i = 0; i < 32; i++) {
    const low = (secretKey[i] ?? 0) >> 3;
    const high = ((secretKey[i + 1] ?? 0) & 0x07) << 5;
    out[i] = i < 31 ? low | high : low;
  }
  out.set(secretKey.subarray(32), 32);
  return out;
}

function hexField(data: KeyfileData, name: keyof KeyfileData, bytes: number, path: string): Uint8Array {
  const raw = data[name];
  const value = raw?.startsWith("0x") ? raw : `0x${raw ?? ""}`;
  if (!isHex(value) || (value.length - 2) / 2 !== bytes) {
    throw new WalletError(`keyfile ${path}: ${name} must be ${bytes} bytes of hex`, { path, field: name });
  }
  return hexToU8a(value);
}

/**
 * The keypair btwallet would build from this keyfile: secretPhrase, else secretSeed, else
 * privateKey (converted); a public-only keyfile cannot sign and is refused.
 */
export async function keypairFromKeyfile(
  data: KeyfileData,
  path: string,
): Promise<{ pair: KeyringPair; source: KeySource }> {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: SS58_FORMAT });
  if (data.secretPhrase !== undefined) {
    const phrase = data.secretPhrase.trim();
    if (!mnemonicValidate(phrase)) {
      throw new WalletError(`keyfile ${path}: secretPhrase is not a valid BIP-39 mnemonic`, { path });
    }
    return { pair: keyring.addFromMnemonic(phrase), source: "secretPhrase" };
  }
  if (data.secretSeed !== undefined) {
    return { pair: keyring.addFromSeed(hexField(data, "secretSeed", 32, path)), source: "secretSeed" };
  }
  if (data.privateKey !== undefined) {
    const canonical = hexField(data, "privateKey", 64, path);
    let secretKey: Uint8Array;
    try {
      secretKey = canonicalToPolkadotSecret(canonical);
    } catch (error) {
      throw new WalletError(
        `keyfile ${path}: privateKey is not an sr25519 secret`,
        { path },
        { cause: error },
      );
    }
    const publicKey = publicKeyOf(data, path);
    if (!publicKey) {
      throw new WalletError(`keyfile ${path}: privateKey without publicKey/accountId/ss58Address`, { path });
    }
    return { pair: keyring.addFromPair({ publicKey, secretKey }), source: "privateKey" };
  }
  throw new WalletError(
    `keyfile ${path} holds no secret (secretPhrase, secretSeed or privateKey); it can only verify, not sign. ` +
      "Point the miner at the hotkey file itself, not at its pub.txt.",
    { path },
  );
}

/** Public key the keyfile claims, from publicKey, accountId or ss58Address. */
export function publicKeyOf(data: KeyfileData, path: string): Uint8Array | undefined {
  if (data.publicKey) return hexField(data, "publicKey", 32, path);
  if (data.accountId) return hexField(data, "accountId", 32, path);
  if (data.ss58Address) {
    try {
      return decodeAddress(data.ss58Address);
    } catch (error) {
      throw new WalletError(
        `keyfile ${path}: ss58Address is not a valid address`,
        { path },
        { cause: error },
      );
    }
  }
  return undefined;
}

/** The derived key must be the one the keyfile says it is (address and public key). */
export function checkKeyfileAddress(pair: KeyringPair, data: KeyfileData, path: string): void {
  if (data.ss58Address !== undefined) {
    const expected = encodeAddress(decodeAddress(data.ss58Address), SS58_FORMAT);
    if (expected !== pair.address) {
      throw new WalletError(
        `keyfile ${path}: the secret derives ${pair.address} but the file says ${data.ss58Address}. The keyfile is corrupt or edited.`,
        { path, derived: pair.address, declared: data.ss58Address },
      );
    }
  }
  for (const name of ["publicKey", "accountId"] as const) {
    if (data[name] === undefined) continue;
    if (!u8aEq(hexField(data, name, 32, path), pair.publicKey)) {
      throw new WalletError(`keyfile ${path}: ${name} does not match the key derived from the secret`, {
        path,
        field: name,
        derived: pair.address,
      });
    }
  }
}
