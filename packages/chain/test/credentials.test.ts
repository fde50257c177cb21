import { describe, expect, it } from "vitest";
import {
  buildCredentialCommitment,
  CommitmentFormatError,
  CREDENTIAL_COMMITMENT_LENGTH,
  parseCredentialCommitment,
} from "../src/index.js";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const KEY_ID = "fedcba9876543210fedcba9876543210";
const SECRET = "0123456789abcdef".repeat(4);

describe("the 128-character credential commitment", () => {
  it("concatenates full-width R2 values without padding", () => {
    const text = buildCredentialCommitment({
      accountId: ACCOUNT,
      readAccessKeyId: KEY_ID,
      readSecretAccessKey: SECRET,
    });
    expect(text).toBe(ACCOUNT + KEY_ID + SECRET);
    expect(text.length).toBe(CREDENTIAL_COMMITMENT_LENGTH);
  });

  it("strips and right-pads shorter values to 32/32/64 and parses back", () => {
    const text = buildCredentialCommitment({
      accountId: "  acct ",
      readAccessKeyId: "key\n",
      readSecretAccessKey: "\tsecret",
    });
    expect(text).toBe(`${"acct".padEnd(32)}${"key".padEnd(32)}${"secret".padEnd(64)}`);
    expect(parseCredentialCommitment(text)).toEqual({
      name: "acct",
      accountId: "acct",
      accessKeyId: "key",
      secretAccessKey: "secret",
    });
  });

  it("refuses values that cannot be published correctly", () => {
    const ok = { accountId: ACCOUNT, readAccessKeyId: KEY_ID, readSecretAccessKey: SECRET };
    expect(() => buildCredentialCommitment({ ...ok, accountId: "" })).toThrow(CommitmentFormatError);
    expect(() => buildCredentialCommitment({ ...ok, readAccessKeyId: "clé" })).toThrow(/ASCII/);
    expect(() => buildCredentialCommitment({ ...ok, readAccessKeyId: "a b" })).toThrow(/without spaces/);
    expect(() => buildCredentialCommitment({ ...ok, readSecretAccessKey: `${SECRET}0` })).toThrow(
      /at most 64/,
    );
  });

  it("parses only strings of exactly 128 code points with three non-empty parts", () => {
    const valid = ACCOUNT + KEY_ID + SECRET;
    expect(parseCredentialCommitment(valid)?.secretAccessKey).toBe(SECRET);
    expect(parseCredentialCommitment(valid.slice(1))).toBeNull();
    expect(parseCredentialCommitment(`${valid}x`)).toBeNull();
    expect(parseCredentialCommitment(" ".repeat(32) + KEY_ID + SECRET)).toBeNull();
    // Python counts code points: one astral character is one of the 128
    const astral = `${ACCOUNT.slice(0, 31)}\u{1F600}${KEY_ID}${SECRET}`;
    expect(astral.length).toBe(129);
    expect(parseCredentialCommitment(astral)?.accountId).toBe(`${ACCOUNT.slice(0, 31)}\u{1F600}`);
  });
});
