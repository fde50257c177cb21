import { WalletError } from "../errors.js";

/**
 * btwallet keyfiles (spec/chain.md §6): a JSON object, optionally encrypted. This module
 * only parses and decrypts; turning the secret into a signer happens in ./keypair.ts.
 */
export interface KeyfileData {
  readonly accountId?: string;
  readonly publicKey?: string;
  readonly privateKey?: string;
  readonly secretPhrase?: string;
  readonly secretSeed?: string;
  readonly ss58Address?: string;
}

export type KeyfileEncryption = "none" | "nacl" | "ansible-vault" | "fernet";

const NACL_PREFIX = "$NACL";
const ANSIBLE_PREFIX = "$ANSIBLE_VAULT";
const FERNET_PREFIX = "gAAAAA";

function startsWithAscii(raw: Uint8Array, prefix: string): boolean {
  if (raw.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (raw[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/** Detection by the prefix of the raw file bytes, as btwallet does. */
export function detectKeyfileEncryption(raw: Uint8Array): KeyfileEncryption {
  if (startsWithAscii(raw, NACL_PREFIX)) return "nacl";
  if (startsWithAscii(raw, ANSIBLE_PREFIX)) return "ansible-vault";
  if (startsWithAscii(raw, FERNET_PREFIX)) return "fernet";
  return "none";
}

const FIELDS = ["accountId", "publicKey", "privateKey", "secretPhrase", "secretSeed", "ss58Address"] as const;

/** Parses decrypted keyfile bytes; null values count as absent (btwallet reads Option<String>). */
export function parseKeyfileJson(raw: Uint8Array, path: string): KeyfileData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (error) {
    throw new WalletError(
      `keyfile ${path} is not valid JSON; is it a btwallet keyfile?`,
      { path },
      { cause: error },
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new WalletError(`keyfile ${path} does not hold a JSON object`, { path });
  }
  const record = parsed as Record<string, unknown>;
  const data: Record<string, string> = {};
  for (const name of FIELDS) {
    const value = record[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") {
      throw new WalletError(`keyfile ${path}: field ${name} must be a string`, { path, field: name });
    }
    data[name] = value;
  }
  return data;
}

/** btwallet's environment variable for a keyfile's password: BT_PW_ + path, separators and dots → "_". */
export function btwalletPasswordEnvName(keyfilePath: string): string {
  return `BT_PW_${keyfilePath.replaceAll("/", "_").replaceAll(".", "_").toUpperCase()}`;
}

/** Reverses btwallet's obfuscation of that variable: base64 of the password XOR-ed with the name. */
export function decodeBtwalletPassword(envName: string, value: string): string {
  const data = Buffer.from(value, "base64");
  const key = Buffer.from(envName, "utf8");
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] ?? 0) ^ (key[i % key.length] ?? 0);
  return new TextDecoder().decode(out);
}

export function encodeBtwalletPassword(envName: string, password: string): string {
  const data = Buffer.from(password, "utf8");
  const key = Buffer.from(envName, "utf8");
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] ?? 0) ^ (key[i % key.length] ?? 0);
  return out.toString("base64");
}

/** btwallet's fixed Argon2i salt for NaCl keyfiles. */
export const NACL_KEYFILE_SALT = Uint8Array.from(Buffer.from("137183dff15a09bc9c90b5518739e9b1", "hex"));

type Sodium = typeof import("libsodium-wrappers-sumo");

async function loadSodium(): Promise<Sodium> {
  const module = await import("libsodium-wrappers-sumo");
  const sodium = (module as unknown as { default?: Sodium }).default ?? (module as unknown as Sodium);
  await sodium.ready;
  return sodium;
}

/** Key of a `$NACL` keyfile: Argon2i v1.3, opslimit/memlimit SENSITIVE, btwallet's salt. */
export async function deriveNaclKeyfileKey(password: string): Promise<Uint8Array> {
  const sodium = await loadSodium();
  return sodium.crypto_pwhash(
    sodium.crypto_secretbox_KEYBYTES,
    new TextEncoder().encode(password),
    NACL_KEYFILE_SALT,
    sodium.crypto_pwhash_OPSLIMIT_SENSITIVE,
    sodium.crypto_pwhash_MEMLIMIT_SENSITIVE,
    sodium.crypto_pwhash_ALG_ARGON2I13,
  );
}

/** `$NACL` ++ 24-byte nonce ++ XSalsa20-Poly1305 secretbox of the JSON. */
export async function sealNaclKeyfile(plaintext: Uint8Array, key: Uint8Array): Promise<Uint8Array> {
  const sodium = await loadSodium();
  const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
  const box = sodium.crypto_secretbox_easy(plaintext, nonce, key);
  const out = new Uint8Array(NACL_PREFIX.length + nonce.length + box.length);
  out.set(new TextEncoder().encode(NACL_PREFIX), 0);
  out.set(nonce, NACL_PREFIX.length);
  out.set(box, NACL_PREFIX.length + nonce.length);
  return out;
}

export async function openNaclKeyfile(raw: Uint8Array, key: Uint8Array, path: string): Promise<Uint8Array> {
  const sodium = await loadSodium();
  const body = raw.subarray(NACL_PREFIX.length);
  if (body.length < sodium.crypto_secretbox_NONCEBYTES + sodium.crypto_secretbox_MACBYTES) {
    throw new WalletError(`encrypted keyfile ${path} is truncated`, { path });
  }
  const nonce = body.subarray(0, sodium.crypto_secretbox_NONCEBYTES);
  const box = body.subarray(sodium.crypto_secretbox_NONCEBYTES);
  try {
    return sodium.crypto_secretbox_open_easy(box, nonce, key);
  } catch {
    throw new WalletError(`wrong password for encrypted keyfile ${path}`, { path });
  }
}
