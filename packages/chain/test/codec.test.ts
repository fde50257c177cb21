import { unwrapStorageType } from "@polkadot/types";
import { allExtensions } from "@polkadot/types/extrinsic/signedExtensions";
import type { StorageEntryTypeLatest } from "@polkadot/types/interfaces";
import { hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a, decodeAddress, xxhashAsU8a } from "@polkadot/util-crypto";
import { describe, expect, it } from "vitest";
import {
  commitmentFirstFieldBytes,
  decodeCommitmentText,
  joinBuckets,
  rawCommitmentInfo,
  SUBTENSOR_SIGNED_EXTENSIONS,
} from "../src/index.js";
import { type LoadedMetadata, loadDevnet381, loadFinney343 } from "./fixtures.js";

// A hotkey published as a btcli example (see wallet.test.ts for its source).
const HOTKEY = "5E6xfU3oNU7y1a7pQwoc31fmUjwBZ2gKcNCw8EXsdtCQieUQ";
const HOTKEY_PUBLIC = "5a30cd5517328838f69ed48531894d94e9f231dff241e1561260a8522a167731";

const PREFIX = {
  commitmentOf: "ca407206ec1ab726b2636c4b145ac287419a60ae8b01e6dcaebd7317e43c69bf",
  lastCommitment: "ca407206ec1ab726b2636c4b145ac28712e87f5eb6c957418d3a44e4809a0ebc",
  usedSpaceOf: "ca407206ec1ab726b2636c4b145ac287601850e0406400e56fc1672dd2c7ba26",
  uids: "658faa385070e074c85bf6b568cf0555aab1b4e78e1ea8305462ee53b3686dc8",
  keys: "658faa385070e074c85bf6b568cf05559f99a2ce711f3a31b2fc05604c93f179",
  subnetworkN: "658faa385070e074c85bf6b568cf0555a1048e9d244171852dfe8db314dc68ca",
  timestampNow: "f0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb",
};

const CREDENTIAL =
  "0123456789abcdef0123456789abcdef" + "fedcba9876543210fedcba9876543210" + "a".repeat(32) + "b".repeat(32);

function u16le(n: number): string {
  return Buffer.from([n & 0xff, n >> 8]).toString("hex");
}

function ascii(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Registration { deposit: u64, block: u32, info: { fields } } as the runtime stores it. */
function registrationBytes(fields: Uint8Array[], block = 3, deposit = 0): Uint8Array {
  const head = new Uint8Array(12);
  const view = new DataView(head.buffer);
  view.setBigUint64(0, BigInt(deposit), true);
  view.setUint32(8, block, true);
  return u8aConcat(head, new Uint8Array([fields.length << 2]), ...fields);
}

function rawField(payload: Uint8Array): Uint8Array {
  return u8aConcat(new Uint8Array([payload.length + 1]), payload);
}

for (const load of [loadFinney343, loadDevnet381]) {
  const md: LoadedMetadata = load();
  const { registry, decorated } = md;
  const query = decorated.query as unknown as Record<
    string,
    Record<string, (...args: unknown[]) => Uint8Array>
  >;
  const storageKey = (section: string, item: string, ...args: unknown[]) =>
    registry.createType("StorageKey", [query[section]![item]!, args]).toHex();

  describe(`codec against ${md.label} metadata`, () => {
    it("builds CommitmentOf / LastCommitment / UsedSpaceOf keys as prefix ++ netuid LE ++ twox64(acct) ++ acct", () => {
      const account = decodeAddress(HOTKEY);
      const tail = u16le(81) + u8aToHex(xxhashAsU8a(account, 64), -1, false) + HOTKEY_PUBLIC;
      expect(storageKey("commitments", "commitmentOf", 81, HOTKEY)).toBe(`0x${PREFIX.commitmentOf}${tail}`);
      expect(storageKey("commitments", "lastCommitment", 81, HOTKEY)).toBe(
        `0x${PREFIX.lastCommitment}${tail}`,
      );
      expect(storageKey("commitments", "usedSpaceOf", 81, HOTKEY)).toBe(`0x${PREFIX.usedSpaceOf}${tail}`);
    });

    it("builds Uids, Keys, SubnetworkN and Timestamp.Now keys with the spec's hashers", () => {
      const account = decodeAddress(HOTKEY);
      expect(storageKey("subtensorModule", "uids", 81, HOTKEY)).toBe(
        `0x${PREFIX.uids}${u16le(81)}${u8aToHex(blake2AsU8a(account, 128), -1, false)}${HOTKEY_PUBLIC}`,
      );
      expect(storageKey("subtensorModule", "keys", 81, 258)).toBe(
        `0x${PREFIX.keys}${u16le(81)}${u16le(258)}`,
      );
      expect(storageKey("subtensorModule", "subnetworkN", 81)).toBe(`0x${PREFIX.subnetworkN}${u16le(81)}`);
      expect(storageKey("timestamp", "now")).toBe(`0x${PREFIX.timestampNow}`);
    });

    it("encodes set_commitment as 0x12 00 <netuid LE> 04 81 <128 bytes>", () => {
      const payload = ascii(CREDENTIAL);
      const tx = decorated.tx as unknown as Record<
        string,
        Record<string, (...a: unknown[]) => { toU8a(): Uint8Array }>
      >;
      const bytes = tx.commitments!.setCommitment!(81, rawCommitmentInfo(payload)).toU8a();
      expect(bytes.length).toBe(134);
      expect(u8aToHex(bytes.subarray(0, 6))).toBe(`0x1200${u16le(81)}0481`);
      expect(bytes.subarray(6)).toEqual(payload);
      const short = tx.commitments!.setCommitment!(1, rawCommitmentInfo(ascii("abc"))).toU8a();
      expect(u8aToHex(short)).toBe("0x12000100040461626" + "3");
    });

    const valueType = unwrapStorageType(
      registry,
      (query.commitments!.commitmentOf as unknown as { meta: { type: StorageEntryTypeLatest } }).meta.type,
    );
    const decode = (bytes: Uint8Array) => registry.createType(valueType, bytes);

    it("decodes a stored Raw128 credential, bare and wrapped in Option", () => {
      const stored = registrationBytes([rawField(ascii(CREDENTIAL))], 1234);
      const bytes = commitmentFirstFieldBytes(decode(stored));
      expect(bytes && decodeCommitmentText(bytes)).toBe(CREDENTIAL);
      const some = registry.createType(`Option<${valueType}>`, u8aConcat(new Uint8Array([1]), stored));
      expect(commitmentFirstFieldBytes(some)).toEqual(ascii(CREDENTIAL));
      expect(commitmentFirstFieldBytes(registry.createType(`Option<${valueType}>`, null))).toBeNull();
      // the stored layout of the spec's example: deposit 0, block 3, one field, Raw128
      expect(u8aToHex(registrationBytes([rawField(ascii(CREDENTIAL))]).subarray(0, 14))).toBe(
        "0x0000000000000000030000000481",
      );
    });

    it("decodes odd values: Raw127, non-UTF-8, hash variants, None, empty, two fields", () => {
      const r127 = commitmentFirstFieldBytes(decode(registrationBytes([rawField(ascii("x".repeat(127)))])));
      expect(r127?.length).toBe(127);

      const invalid = new Uint8Array(128).fill(0xff);
      const invalidBytes = commitmentFirstFieldBytes(decode(registrationBytes([rawField(invalid)])));
      expect(invalidBytes).toEqual(invalid);
      expect(decodeCommitmentText(invalidBytes!)).toBeNull();

      const sha = u8aConcat(new Uint8Array([131]), new Uint8Array(32).fill(7));
      expect(commitmentFirstFieldBytes(decode(registrationBytes([sha])))).toBeNull();
      expect(commitmentFirstFieldBytes(decode(registrationBytes([new Uint8Array([0])])))).toBeNull();
      expect(commitmentFirstFieldBytes(decode(registrationBytes([])))).toBeNull();
      expect(commitmentFirstFieldBytes(decode(registrationBytes([rawField(new Uint8Array(0))])))).toEqual(
        new Uint8Array(0),
      );

      // only the first field counts, even when a later one is a valid credential
      const two = decode(registrationBytes([rawField(ascii("abcd")), rawField(ascii(CREDENTIAL))]));
      expect(decodeCommitmentText(commitmentFirstFieldBytes(two)!)).toBe("abcd");
    });

    it("reads BigRaw (newer runtimes) as the first field's bytes", () => {
      const payload = ascii(CREDENTIAL);
      const bigRaw = u8aConcat(new Uint8Array([136]), hexToU8a("0x0102"), payload); // compact(128) = 0x0102
      const bytes = commitmentFirstFieldBytes(decode(registrationBytes([bigRaw])));
      expect(bytes).toEqual(payload);
    });

    it("declares every transaction extension polkadot-js does not know, and they carry no data", () => {
      // v15 names the implicit part additionalSigned; v16 calls it implicit
      const extensions =
        md.metadata.version === 15
          ? md.metadata.asV15.extrinsic.signedExtensions.map((e) => ({
              identifier: e.identifier,
              type: e.type,
              implicit: e.additionalSigned,
            }))
          : md.metadata.asV16.extrinsic.transactionExtensions.map((e) => e);
      const known = allExtensions as Record<string, unknown>;
      const unknown: string[] = [];
      for (const ext of extensions) {
        const id = ext.identifier.toString();
        if (known[id]) continue;
        unknown.push(id);
        expect(Object.keys(SUBTENSOR_SIGNED_EXTENSIONS)).toContain(id);
        for (const typeId of [ext.type, ext.implicit]) {
          const def = registry.lookup.getSiType(typeId).def;
          const empty =
            (def.isComposite && def.asComposite.fields.length === 0) ||
            (def.isTuple && def.asTuple.length === 0);
          expect(empty, `${id} must carry no data`).toBe(true);
        }
      }
      expect(unknown).toContain("SubtensorTransactionExtension");
    });
  });
}

describe("joining hotkeys with commitments", () => {
  const hotkeys = new Map([
    [0, "5Trainer"],
    [1, "5Miner"],
    [2, "5Odd"],
    [3, "5Hash"],
    [4, "5Bad"],
  ]);

  it("keeps only current neurons whose first field decodes to exactly 128 characters", () => {
    const commitments = new Map<string, Uint8Array | null>([
      ["5Trainer", ascii(CREDENTIAL)],
      ["5Miner", ascii(`${"m".repeat(32)}${"k".repeat(30)}  ${"s".repeat(64)}`)],
      ["5Odd", ascii("x".repeat(127))],
      ["5Hash", null],
      ["5Bad", new Uint8Array(128).fill(0xc3)],
      ["5Gone", ascii(CREDENTIAL)],
    ]);
    const { byUid, skipped } = joinBuckets(hotkeys, commitments);
    expect([...byUid.keys()]).toEqual([0, 1]);
    expect(byUid.get(0)?.bucket).toEqual({
      name: "0123456789abcdef0123456789abcdef",
      accountId: "0123456789abcdef0123456789abcdef",
      accessKeyId: "fedcba9876543210fedcba9876543210",
      secretAccessKey: "a".repeat(32) + "b".repeat(32),
    });
    expect(byUid.get(1)?.bucket.accessKeyId).toBe("k".repeat(30));
    expect(Object.fromEntries(skipped.map((s) => [s.hotkey, s.reason]))).toEqual({
      "5Odd": "not-a-credential",
      "5Hash": "not-raw-bytes",
      "5Bad": "invalid-utf8",
      "5Gone": "not-a-neuron",
    });
  });
});
