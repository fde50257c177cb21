import { describe, expect, test } from "vitest";
import {
  isSecretFieldName,
  maskMnemonics,
  REDACTED,
  redactText,
  redactValue,
  SecretRegistry,
} from "../src/index.js";

const MNEMONIC_12 = "legal winner thank year wave sausage worth useful legal winner thank yellow";
const MNEMONIC_24 =
  "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless";
const PRIVATE_HEX = `0x${"ab".repeat(32)}`;

describe("field names", () => {
  test.each([
    "R2_WRITE_SECRET_ACCESS_KEY",
    "secretAccessKey",
    "WANDB_API_KEY",
    "apiKey",
    "password",
    "walletPassword",
    "mnemonic",
    "seed",
    "privateKey",
    "private_key",
    "key",
    "hotkeyMnemonic",
  ])("%s is secret", (name) => expect(isSecretFieldName(name)).toBe(true));

  test.each([
    "R2_READ_ACCESS_KEY_ID",
    "accessKeyId",
    "keyId",
    "hotkey",
    "coldkey",
    "hotkey_ss58",
    "hotkeyAddress",
    "publicKey",
    "objectKey",
    "cacheKey",
    "envSeed",
    "tokens",
    "component",
    "blockHash",
  ])("%s is public", (name) => expect(isSecretFieldName(name)).toBe(false));
});

describe("text", () => {
  test("registered secrets are masked anywhere in a string, longest first", () => {
    const secrets = new SecretRegistry();
    secrets.register("s3cr3t-value");
    secrets.register("s3cr3t-value-longer");
    expect(redactText("a s3cr3t-value-longer b s3cr3t-value c", secrets)).toBe(
      `a ${REDACTED} b ${REDACTED} c`,
    );
  });

  test("too-short values are not registered (they would mask ordinary text)", () => {
    const secrets = new SecretRegistry();
    expect(secrets.register("abc")).toBe(false);
    expect(secrets.register("   ")).toBe(false);
    expect(secrets.register(undefined)).toBe(false);
    expect(redactText("abc", secrets)).toBe("abc");
  });

  test("12- and 24-word mnemonics are masked, prose is not", () => {
    const secrets = new SecretRegistry();
    expect(redactText(`phrase: ${MNEMONIC_12}.`, secrets)).toBe(`phrase: ${REDACTED}.`);
    expect(redactText(MNEMONIC_24, secrets)).toBe(REDACTED);
    expect(redactText(MNEMONIC_12.toUpperCase(), secrets)).toBe(REDACTED);
    const prose = "the local network is not built yet so there is nothing to mine against in this window";
    expect(redactText(prose, secrets)).toBe(prose);
    // eleven wordlist words in a row are not a phrase
    const eleven = MNEMONIC_12.split(" ").slice(0, 11).join(" ");
    expect(maskMnemonics(eleven, "X")).toBe(eleven);
    // words across a line break still form one phrase
    expect(maskMnemonics(MNEMONIC_12.replace("wave", "\nwave"), "X")).toBe("X");
  });

  test("0x+64-hex strings are masked outside digest fields", () => {
    const secrets = new SecretRegistry();
    expect(redactText(`seed is ${PRIVATE_HEX}`, secrets)).toBe(`seed is ${REDACTED}`);
    // 0x+128-hex (a signature) is not the shape of a key
    const signature = `0x${"cd".repeat(64)}`;
    expect(redactText(signature, secrets)).toBe(signature);
    expect(
      redactValue({ blockHash: PRIVATE_HEX, randomness: PRIVATE_HEX, note: PRIVATE_HEX }, secrets),
    ).toEqual({
      blockHash: PRIVATE_HEX,
      randomness: PRIVATE_HEX,
      note: REDACTED,
    });
  });
});

describe("values", () => {
  test("nested objects, arrays and errors", () => {
    const secrets = new SecretRegistry();
    secrets.register("WRITE-SECRET-0123456789");
    const err = new Error("upload failed with key WRITE-SECRET-0123456789");
    Object.assign(err, { secretAccessKey: "WRITE-SECRET-0123456789", bucket: "b1" });
    const input = {
      storage: {
        accessKeyId: "AKIA-PUBLIC",
        secretAccessKey: "WRITE-SECRET-0123456789",
        nested: [{ password: "hunter22" }, `url?sig=WRITE-SECRET-0123456789`],
      },
      err,
      hotkey: "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX",
      mnemonic: "",
      count: 3n,
    };
    const out = redactValue(input, secrets) as {
      storage: unknown;
      err: Record<string, string>;
      hotkey: string;
      mnemonic: string;
      count: string;
    };
    expect(out.storage).toEqual({
      accessKeyId: "AKIA-PUBLIC",
      secretAccessKey: REDACTED,
      nested: [{ password: REDACTED }, `url?sig=${REDACTED}`],
    });
    expect(out.err.name).toBe("Error");
    expect(out.err.message).toBe(`upload failed with key ${REDACTED}`);
    expect(out.err.secretAccessKey).toBe(REDACTED);
    expect(out.err.bucket).toBe("b1");
    expect(out.err.stack).toContain(REDACTED);
    expect(out.hotkey).toBe(input.hotkey);
    expect(out.mnemonic).toBe("");
    expect(out.count).toBe("3");
    expect(JSON.stringify(out)).not.toContain("WRITE-SECRET");
    // the input is untouched
    expect(input.storage.secretAccessKey).toBe("WRITE-SECRET-0123456789");
  });

  test("error causes and cycles", () => {
    const secrets = new SecretRegistry();
    secrets.register("cause-secret-xyz");
    const err = new Error("outer", { cause: new Error("inner cause-secret-xyz") });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const out = redactValue({ err, cyclic }, secrets) as {
      err: { cause: { message: string } };
      cyclic: unknown;
    };
    expect(out.err.cause.message).toBe(`inner ${REDACTED}`);
    expect(out.cyclic).toEqual({ name: "loop", self: "[circular]" });
  });

  test("bytes become hex and registered secrets in them are masked", () => {
    const secrets = new SecretRegistry();
    expect(redactValue(new Uint8Array([1, 2, 255]), secrets)).toBe("0102ff");
    secrets.register("0102ff0a0b");
    expect(redactValue({ data: new Uint8Array([1, 2, 255, 10, 11]) }, secrets)).toEqual({ data: REDACTED });
  });
});
