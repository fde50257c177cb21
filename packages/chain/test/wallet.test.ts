import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { Keyring } from "@polkadot/keyring";
import { hexToU8a, stringToU8a, u8aToHex, u8aWrapBytes } from "@polkadot/util";
import { cryptoWaitReady, signatureVerify, sr25519PairFromSeed } from "@polkadot/util-crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  btwalletPasswordEnvName,
  canonicalToPolkadotSecret,
  decodeBtwalletPassword,
  deriveNaclKeyfileKey,
  detectKeyfileEncryption,
  encodeBtwalletPassword,
  hotkeyPath,
  loadHotkey,
  openNaclKeyfile,
  polkadotToCanonicalSecret,
  sealNaclKeyfile,
  verifySignature,
  WalletError,
} from "../src/index.js";

// A hotkey generated with `btcli wallet new_hotkey` and published as an example in the
// README of rayonlabs/chutes-miner (public; used here only as a key-derivation vector).
const VECTOR = {
  accountId: "0x5a30cd5517328838f69ed48531894d94e9f231dff241e1561260a8522a167731",
  publicKey: "0x5a30cd5517328838f69ed48531894d94e9f231dff241e1561260a8522a167731",
  privateKey:
    "0x69de0e5d7e66902d5b9da02091bb130aedf49d6c53a2fe67eeb914520e0ea70aa2176663f7b30c93d8826c702e9b22c35ab1a99afbdc02c35618c97e00edab3a",
  secretPhrase: "inform sell fitness extra kitten unit hood glass window law spider desk",
  secretSeed: "0xe031170f32b4cda05df2f3cf6bc8d76827b683bbce23d9fa960c0b3fc21641b8",
  ss58Address: "5E6xfU3oNU7y1a7pQwoc31fmUjwBZ2gKcNCw8EXsdtCQieUQ",
};
// Another key, to show which field wins when a file disagrees with itself.
const OTHER_SEED = "0x2465ae0757117bea271ad622e1cd0c4b319c96896a3c7d9469a68e63cf7f9646";

let root: string;

async function writeHotkey(name: string, content: string | Uint8Array): Promise<void> {
  const dir = path.join(root, "cold", "hotkeys");
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, name), content, { mode: 0o600 });
}

const load = (hotkeyName: string, extra: Partial<Parameters<typeof loadHotkey>[0]> = {}) =>
  loadHotkey({ walletRoot: root, walletName: "cold", hotkeyName, env: {}, ...extra });

beforeAll(async () => {
  await cryptoWaitReady();
  root = await mkdtemp(path.join(tmpdir(), "grail-wallet-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("sr25519 secret conversion (spec/chain.md §7)", () => {
  it("turns btwallet's canonical privateKey into the polkadot-js secret derived from the same seed", () => {
    const fromSeed = sr25519PairFromSeed(hexToU8a(VECTOR.secretSeed));
    const converted = canonicalToPolkadotSecret(hexToU8a(VECTOR.privateKey));
    expect(u8aToHex(converted)).toBe(u8aToHex(fromSeed.secretKey));
    expect(u8aToHex(polkadotToCanonicalSecret(fromSeed.secretKey))).toBe(VECTOR.privateKey);
  });

  it("rejects a scalar that does not fit", () => {
    const bad = new Uint8Array(64).fill(0xff);
    expect(() => canonicalToPolkadotSecret(bad)).toThrow(RangeError);
  });
});

describe("loading hotkey keyfiles with btwallet's precedence", () => {
  it("gives the same address from a full file and from phrase-only, seed-only and privateKey-only files", async () => {
    await writeHotkey("full", JSON.stringify(VECTOR));
    await writeHotkey("phrase", JSON.stringify({ secretPhrase: VECTOR.secretPhrase }));
    await writeHotkey(
      "seed",
      JSON.stringify({ secretSeed: VECTOR.secretSeed, ss58Address: VECTOR.ss58Address }),
    );
    await writeHotkey(
      "private",
      JSON.stringify({ privateKey: VECTOR.privateKey, publicKey: VECTOR.publicKey, secretPhrase: null }),
    );
    const sources: Record<string, string> = {};
    for (const name of ["full", "phrase", "seed", "private"]) {
      const loaded = await load(name);
      expect(loaded.signer.ss58).toBe(VECTOR.ss58Address);
      expect(u8aToHex(loaded.signer.publicKey)).toBe(VECTOR.publicKey);
      expect(loaded.encrypted).toBe(false);
      sources[name] = loaded.source;
    }
    expect(sources).toEqual({
      full: "secretPhrase",
      phrase: "secretPhrase",
      seed: "secretSeed",
      private: "privateKey",
    });
  });

  it("takes the phrase over a conflicting seed, and refuses a file whose address disagrees", async () => {
    await writeHotkey("mixed", JSON.stringify({ secretPhrase: VECTOR.secretPhrase, secretSeed: OTHER_SEED }));
    expect((await load("mixed")).signer.ss58).toBe(VECTOR.ss58Address);

    await writeHotkey("lying", JSON.stringify({ secretSeed: OTHER_SEED, ss58Address: VECTOR.ss58Address }));
    await expect(load("lying")).rejects.toThrow(/derives 5FcWiCiFoSspGGocSxzatNL5kT6cjxjXQ9LuAuYbvFNUqcfX/);
  });

  it("catches a private key that does not belong to the public key with the sign-then-verify self-test", async () => {
    const otherCanonical = polkadotToCanonicalSecret(sr25519PairFromSeed(hexToU8a(OTHER_SEED)).secretKey);
    await writeHotkey(
      "foreign",
      JSON.stringify({ privateKey: u8aToHex(otherCanonical), publicKey: VECTOR.publicKey }),
    );
    await expect(load("foreign")).rejects.toThrow(/produced a signature that does not verify/);

    // A secret already in polkadot-js form would be shifted twice: the scalar overflows.
    const polkadotForm = u8aToHex(sr25519PairFromSeed(hexToU8a(VECTOR.secretSeed)).secretKey);
    await writeHotkey(
      "wrong-form",
      JSON.stringify({ privateKey: polkadotForm, publicKey: VECTOR.publicKey }),
    );
    await expect(load("wrong-form")).rejects.toThrow(/not an sr25519 secret/);
  });

  it("explains missing files, public-only files and legacy encryption", async () => {
    await expect(load("absent")).rejects.toBeInstanceOf(WalletError);
    await expect(load("absent")).rejects.toThrow(
      /btcli wallet new_hotkey --wallet.name cold --wallet.hotkey absent/,
    );
    await writeHotkey(
      "pub",
      JSON.stringify({ ss58Address: VECTOR.ss58Address, publicKey: VECTOR.publicKey }),
    );
    await expect(load("pub")).rejects.toThrow(/holds no secret/);
    await writeHotkey("vault", "$ANSIBLE_VAULT;1.1;AES256\n6162");
    await expect(load("vault")).rejects.toThrow(/ansible-vault format/);
    await writeHotkey("garbage", "not json");
    await expect(load("garbage")).rejects.toThrow(/not valid JSON/);
  });

  it("resolves the default wallet layout under the given root", () => {
    expect(hotkeyPath({ walletRoot: "/w", walletName: "c", hotkeyName: "h" })).toBe("/w/c/hotkeys/h");
    expect(hotkeyPath({ walletName: "c", hotkeyName: "h" })).toMatch(/\.bittensor\/wallets\/c\/hotkeys\/h$/);
  });
});

describe("encrypted ($NACL) hotkeys", () => {
  it("names and de-obfuscates btwallet's password variable", () => {
    const name = btwalletPasswordEnvName("/root/.bittensor/wallets/default/hotkeys/default");
    expect(name).toBe("BT_PW__ROOT__BITTENSOR_WALLETS_DEFAULT_HOTKEYS_DEFAULT");
    const encoded = encodeBtwalletPassword(name, "correct horse");
    expect(encoded).not.toContain("correct");
    expect(decodeBtwalletPassword(name, encoded)).toBe("correct horse");
  });

  it("asks for a password when none is given, and rejects a wrong key", async () => {
    const sealed = await sealNaclKeyfile(stringToU8a("{}"), new Uint8Array(32).fill(1));
    expect(detectKeyfileEncryption(sealed)).toBe("nacl");
    await writeHotkey("locked", sealed);
    await expect(load("locked")).rejects.toThrow(/encrypted and no password was given.*BT_PW_/s);
    await expect(openNaclKeyfile(sealed, new Uint8Array(32).fill(2), "locked")).rejects.toThrow(
      /wrong password/,
    );
  });

  it("decrypts with the password from btwallet's variable (Argon2i SENSITIVE + secretbox)", async () => {
    const key = await deriveNaclKeyfileKey("hunter2-hotkey");
    await writeHotkey("sealed", await sealNaclKeyfile(stringToU8a(JSON.stringify(VECTOR)), key));
    const file = path.join(root, "cold", "hotkeys", "sealed");
    const envName = btwalletPasswordEnvName(file);
    const loaded = await load("sealed", {
      env: { [envName]: encodeBtwalletPassword(envName, "hunter2-hotkey") },
    });
    expect(loaded.encrypted).toBe(true);
    expect(loaded.signer.ss58).toBe(VECTOR.ss58Address);
  }, 60_000);
});

describe("signatures", () => {
  it("a polkadot-js signature verifies raw and <Bytes>-wrapped, and nothing else does", async () => {
    const pair = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromSeed(hexToU8a(VECTOR.secretSeed));
    const message = stringToU8a("|0x1111111111111111111111111111111111111111111111111111111111111111|53");
    const raw = pair.sign(message);
    const wrapped = pair.sign(u8aWrapBytes(message));
    expect(verifySignature(message, raw, VECTOR.ss58Address)).toBe(true);
    expect(verifySignature(message, wrapped, VECTOR.ss58Address)).toBe(true);
    expect(signatureVerify(message, wrapped, VECTOR.ss58Address).isValid).toBe(true);

    const tampered = message.slice();
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(verifySignature(tampered, raw, VECTOR.ss58Address)).toBe(false);
    expect(verifySignature(message, raw, "5FcWiCiFoSspGGocSxzatNL5kT6cjxjXQ9LuAuYbvFNUqcfX")).toBe(false);
    expect(verifySignature(message, raw.subarray(0, 63), VECTOR.ss58Address)).toBe(false);
    expect(verifySignature(message, raw, "not-an-address")).toBe(false);
  });

  it("the loaded signer signs raw bytes that polkadot-js verifies, and never prints its secret", async () => {
    const { signer } = await load("full");
    const digest = new Uint8Array(32).fill(9);
    const signature = signer.sign(digest);
    expect(signature.length).toBe(64);
    expect(signatureVerify(digest, signature, VECTOR.ss58Address).isValid).toBe(true);
    expect(verifySignature(digest, signature, signer.ss58)).toBe(true);

    const printed = `${JSON.stringify(signer)} ${inspect(signer, { showHidden: true, depth: 5 })} ${String(signer)}`;
    expect(printed).toContain(VECTOR.ss58Address);
    for (const secret of [VECTOR.privateKey.slice(2, 20), VECTOR.secretSeed.slice(2, 20), "inform sell"]) {
      expect(printed).not.toContain(secret);
    }
  });
});
