import { inspect } from "node:util";
import { Keyring } from "@polkadot/keyring";
import { TypeRegistry } from "@polkadot/types";
import type { SignerPayloadJSON } from "@polkadot/types/types";
import { hexToU8a, stringToU8a, u8aToHex, u8aWrapBytes } from "@polkadot/util";
import { blake2AsU8a, cryptoWaitReady, sr25519Verify } from "@polkadot/util-crypto";
import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  canonicalToPolkadotSecret,
  extrinsicSigner,
  KeyringHotkeySigner,
  verifySignature,
  WalletError,
} from "../src/index.js";

// Lets one test present a WASM that is not initialised yet and count the WASM signatures;
// every call still goes to the real module.
const wasm = vi.hoisted(() => ({ pretendNotReady: false, signCalls: 0, waitCalls: 0 }));
vi.mock("@polkadot/wasm-crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("@polkadot/wasm-crypto")>();
  return {
    ...actual,
    isReady: () => !wasm.pretendNotReady && actual.isReady(),
    waitReady: () => {
      wasm.waitCalls++;
      return actual.waitReady();
    },
    sr25519Sign: (publicKey: Uint8Array, secretKey: Uint8Array, message: Uint8Array) => {
      wasm.signCalls++;
      return actual.sr25519Sign(publicKey, secretKey, message);
    },
  };
});

// The public example hotkey also used in wallet.test.ts (btwallet fields).
const VECTOR = {
  publicKey: "0x5a30cd5517328838f69ed48531894d94e9f231dff241e1561260a8522a167731",
  privateKey:
    "0x69de0e5d7e66902d5b9da02091bb130aedf49d6c53a2fe67eeb914520e0ea70aa2176663f7b30c93d8826c702e9b22c35ab1a99afbdc02c35618c97e00edab3a",
  secretSeed: "0xe031170f32b4cda05df2f3cf6bc8d76827b683bbce23d9fa960c0b3fc21641b8",
  ss58Address: "5E6xfU3oNU7y1a7pQwoc31fmUjwBZ2gKcNCw8EXsdtCQieUQ",
};

const keyring = () => new Keyring({ type: "sr25519", ss58Format: 42 });

beforeAll(async () => {
  await cryptoWaitReady();
});

describe("KeyringHotkeySigner (sr25519 through @polkadot/wasm-crypto)", () => {
  it("signs raw bytes that verify with verifySignature and sr25519Verify, with a fresh nonce each time", () => {
    const signer = new KeyringHotkeySigner(keyring().addFromSeed(hexToU8a(VECTOR.secretSeed)));
    expect(signer.ss58).toBe(VECTOR.ss58Address);
    expect(u8aToHex(signer.publicKey)).toBe(VECTOR.publicKey);

    const binding = blake2AsU8a(stringToU8a("rollout binding"));
    const first = signer.sign(binding);
    const second = signer.sign(binding);
    expect(first.length).toBe(64);
    expect(u8aToHex(first)).not.toBe(u8aToHex(second));
    for (const signature of [first, second]) {
      expect(sr25519Verify(binding, signature, signer.publicKey)).toBe(true);
      expect(verifySignature(binding, signature, signer.ss58)).toBe(true);
    }

    const tampered = binding.slice();
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(verifySignature(tampered, first, signer.ss58)).toBe(false);
    expect(sr25519Verify(tampered, first, signer.publicKey)).toBe(false);
  });

  it("signs the <Bytes>-wrapped form that verifySignature accepts for the bare message", () => {
    const signer = new KeyringHotkeySigner(keyring().addFromUri("//GrailSignerTest"));
    const challenge = stringToU8a("|0x1111111111111111111111111111111111111111111111111111111111111111|53");
    const wrapped = signer.sign(u8aWrapBytes(challenge));
    expect(sr25519Verify(u8aWrapBytes(challenge), wrapped, signer.publicKey)).toBe(true);
    expect(sr25519Verify(challenge, wrapped, signer.publicKey)).toBe(false);
    expect(verifySignature(challenge, wrapped, signer.ss58)).toBe(true);
    expect(verifySignature(challenge, wrapped, VECTOR.ss58Address)).toBe(false);
  });

  it("signs with btwallet's privateKey after the ×8 conversion, as the keyring pair itself would", () => {
    const pair = keyring().addFromPair({
      publicKey: hexToU8a(VECTOR.publicKey),
      secretKey: canonicalToPolkadotSecret(hexToU8a(VECTOR.privateKey)),
    });
    const signer = new KeyringHotkeySigner(pair);
    const message = new Uint8Array(32).fill(3);
    expect(verifySignature(message, signer.sign(message), VECTOR.ss58Address)).toBe(true);
    expect(verifySignature(message, pair.sign(message), VECTOR.ss58Address)).toBe(true);
  });

  it("signs extrinsic payloads with the sr25519 MultiSignature tag, hashing payloads over 256 bytes", async () => {
    const signer = new KeyringHotkeySigner(keyring().addFromUri("//GrailSignerTest"));
    const registry = new TypeRegistry();
    const adapter = extrinsicSigner(signer, registry);
    const payloadFor = (method: Uint8Array): SignerPayloadJSON => ({
      address: signer.ss58,
      blockHash: `0x${"12".repeat(32)}`,
      blockNumber: "0x00000010",
      era: "0x00",
      genesisHash: `0x${"34".repeat(32)}`,
      method: u8aToHex(method),
      nonce: "0x00000007",
      signedExtensions: [],
      specVersion: "0x00000100",
      tip: "0x00000000000000000000000000000000",
      transactionVersion: "0x00000001",
      version: 4,
    });
    for (const method of [new Uint8Array([5, 0, 1, 2, 3]), new Uint8Array(300).fill(9)]) {
      const payload = payloadFor(method);
      const { signature } = (await adapter.signPayload?.(payload)) ?? { signature: "0x" };
      const bytes = hexToU8a(signature);
      expect(bytes.length).toBe(65);
      expect(bytes[0]).toBe(1);
      const encoded = registry
        .createType("ExtrinsicPayload", payload, { version: payload.version })
        .toU8a({ method: true });
      const signed = encoded.length > 256 ? blake2AsU8a(encoded) : encoded;
      expect(encoded.length > 256).toBe(method.length > 256);
      expect(sr25519Verify(signed, bytes.subarray(1), signer.publicKey)).toBe(true);
    }
    await expect(
      adapter.signPayload?.({ ...payloadFor(new Uint8Array([1])), address: VECTOR.ss58Address }),
    ).rejects.toThrow(/this signer holds/);
  });

  it("keeps its secret out of JSON, inspection and strings", () => {
    const signer = new KeyringHotkeySigner(keyring().addFromSeed(hexToU8a(VECTOR.secretSeed)));
    const printed = `${JSON.stringify(signer)} ${inspect(signer, { showHidden: true, depth: 5 })} ${String(signer)} ${Object.keys(signer).join()}`;
    expect(printed).toContain(VECTOR.ss58Address);
    const polkadotSecret = u8aToHex(canonicalToPolkadotSecret(hexToU8a(VECTOR.privateKey)));
    for (const secret of [
      polkadotSecret.slice(2, 20),
      VECTOR.privateKey.slice(2, 20),
      VECTOR.secretSeed.slice(2, 20),
    ]) {
      expect(printed).not.toContain(secret);
    }
  });

  it("refuses locked and non-sr25519 pairs", () => {
    const locked = keyring().addFromUri("//GrailSignerTest");
    locked.lock();
    expect(() => new KeyringHotkeySigner(locked)).toThrow(WalletError);
    expect(() => new KeyringHotkeySigner(locked)).toThrow(/locked/);

    const ed25519 = new Keyring({ type: "ed25519" }).addFromUri("//GrailSignerTest");
    expect(() => new KeyringHotkeySigner(ed25519)).toThrow(/hotkeys are sr25519, got ed25519/);
  });

  it("signs through the WASM when it is ready, and through the pair until then", () => {
    const message = new Uint8Array(32).fill(5);
    wasm.signCalls = 0;
    wasm.waitCalls = 0;
    const ready = new KeyringHotkeySigner(keyring().addFromUri("//GrailSignerTest"));
    expect(verifySignature(message, ready.sign(message), ready.ss58)).toBe(true);
    expect(wasm.signCalls).toBe(1);
    expect(wasm.waitCalls).toBe(0);

    wasm.pretendNotReady = true;
    try {
      const early = new KeyringHotkeySigner(keyring().addFromUri("//GrailSignerTest"));
      expect(wasm.waitCalls).toBe(1);
      expect(verifySignature(message, early.sign(message), early.ss58)).toBe(true);
      expect(wasm.signCalls).toBe(1);

      wasm.pretendNotReady = false;
      expect(verifySignature(message, early.sign(message), early.ss58)).toBe(true);
      expect(wasm.signCalls).toBe(2);
    } finally {
      wasm.pretendNotReady = false;
    }
  });
});
