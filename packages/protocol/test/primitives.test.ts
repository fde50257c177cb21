import {
  bytesToHex,
  COMMIT_DOMAIN,
  generateRVec,
  HexFormatError,
  hashTokens,
  hexToBytes,
  normalizeHex,
  PRIME_Q,
  prf,
  sha256Hex,
  utf8,
} from "@grail/protocol";
import { sha512 } from "@noble/hashes/sha2.js";
import { describe, expect, test } from "vitest";

describe("hex", () => {
  test("normalizeHex follows spec §2.1", () => {
    expect(bytesToHex(normalizeHex("abc"))).toBe("0abc");
    expect(bytesToHex(normalizeHex("0xABCDEF0123"))).toBe("abcdef0123");
    expect(bytesToHex(normalizeHex("  0Xab0xcd \n"))).toBe("abcd");
    expect(bytesToHex(normalizeHex(""))).toBe("");
  });

  test("normalizeHex rejects non-hex characters with a typed error", () => {
    expect(() => normalizeHex("xyz")).toThrow(HexFormatError);
  });

  test("hexToBytes is strict", () => {
    expect(bytesToHex(hexToBytes("0x00ff10"))).toBe("00ff10");
    expect(() => hexToBytes("abc")).toThrow(HexFormatError);
    expect(() => hexToBytes("0xzz")).toThrow(HexFormatError);
  });

  test("sha256Hex hashes strings as UTF-8", () => {
    expect(sha256Hex("window-rand")).toBe("ea87bb091f4bf092669c9ece3cf6668f2027f59240d75dbabdf023cc3f27e1ee");
    expect(sha256Hex(utf8("window-rand"))).toBe(sha256Hex("window-rand"));
    expect(utf8(COMMIT_DOMAIN)).toHaveLength(15);
    expect(PRIME_Q).toBe(2 ** 31 - 1);
  });
});

describe("prf (spec §11.1)", () => {
  test("sketch label, one part, 32 bytes", () => {
    const out = prf("sketch", [hexToBytes("00112233445566778899aabbccddeeff")], 32);
    expect(bytesToHex(out)).toBe("841a724016ba0fe9c12f9b0cf90c5e2d8423a6b7b85c35335293154d25d83d09");
  });

  test("open label, two parts, 40 bytes", () => {
    const out = prf(utf8("open"), [utf8("abc"), hexToBytes("0102")], 40);
    expect(bytesToHex(out)).toBe(
      "6098251b4f6e3fc2228efd91b574df6b9102d427e1daa26dbe8d2f935271588a75709705f2c53426",
    );
  });

  test("sat label, no parts, 16 bytes", () => {
    expect(bytesToHex(prf("sat", [], 16))).toBe("1351eecebf1f1638b7f7d4d83a589bce");
  });

  test("n = 0 is empty and out-of-range n is refused", () => {
    expect(prf("sat", [], 0)).toHaveLength(0);
    expect(() => prf("sat", [], 65537)).toThrow(/prf output length/);
  });
});

describe("hashTokens (spec §2.3)", () => {
  test("vectors", () => {
    const t1 = Array.from({ length: 40 }, (_, i) => 1000 + i);
    expect(bytesToHex(hashTokens(t1))).toBe(
      "65b810a24496bd65c32911dd073336a2d57476d153f5bfe27db4e060657d93d8",
    );
    expect(bytesToHex(hashTokens(new Array(600).fill(7)))).toBe(
      "1d9a116e0df193a43d405bf65554b907d2b78fd9fc20a880383e606493e03ca6",
    );
    expect(bytesToHex(hashTokens([]))).toBe(sha256Hex(""));
  });

  test("ids are reduced modulo 2^32", () => {
    expect(hashTokens([-1])).toEqual(hashTokens([4294967295]));
    expect(hashTokens([2 ** 32 + 5])).toEqual(hashTokens([5]));
    expect(() => hashTokens([1.5])).toThrow(/not an integer/);
  });
});

describe("generateRVec (spec §11.2)", () => {
  const cases: [string, string, number[]][] = [
    [
      "feedbeefcafebabe1234567890abcdef",
      "4c0dff612f3ae2ef4ce6658f66bf280608fba52bf249ab79cd0675733612f07e",
      [-38, 32, -22, -81, -76, 117, -89, -81, -123, -79, 69, 92, -82, 105, -55, 18],
    ],
    [
      `0x${"ab".repeat(32)}`,
      "4b5f10a0b0da1154e6382db92d880daa036cd2e98212194c742531d8046c45ac",
      [43, 49, -10, -26, 98, 103, 54, 56, -16, -59, -19, -26, 26, -117, -15, 114],
    ],
    [
      "abc",
      "52ea43108b8fb3ba797aa0692e5e8723609bf72c9851a472e5dc20dea35d3a91",
      [-66, -44, 102, 19, 116, 119, 13, -41, 124, 93, -104, 106, -65, 127, -127, 76],
    ],
    [
      "00002825",
      "25f1658ec77e3631c1dc5094f472a378724d48c78d6f4553270899a036118000",
      [-104, 116, 59, -24, -29, 101, 26, 101, 64, -111, -123, 25, -80, 71, -56, 0],
    ],
  ];
  test.each(cases)("%s", (randomness, prfHex, rVec) => {
    expect(bytesToHex(prf("sketch", [normalizeHex(randomness)], 32))).toBe(prfHex);
    expect(Array.from(generateRVec(randomness))).toEqual(rVec);
  });

  test("the −32768 word maps to 0, not 1", () => {
    const raw = prf("sketch", [normalizeHex("00002825")], 32);
    expect(bytesToHex(raw.subarray(30))).toBe("8000");
    expect(generateRVec("00002825")[15]).toBe(0);
  });

  test("sha512 of §11.3 material matches", () => {
    const material = hexToBytes("45618390cdd71153aa1c5e16a26e24532767bfbbf39f327b04528b66a6b6910e");
    expect(bytesToHex(sha512(material))).toBe(
      "f7fa1adf7cbc3d7c07b9ed0a12c8c56752628df0bd19ebf45540437a884fde0e4fb26ad0ec4a521de2d84a86d61dfb21a2e71e427f8e22d407a9ae589e6009d5",
    );
  });
});
