import { sha256 } from "@noble/hashes/sha2.js";
import { HexFormatError } from "./errors.js";

const HEX_BODY = /^[0-9a-fA-F]*$/;
const encoder = new TextEncoder();

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

export function bytesToHex(b: Uint8Array): string {
  let out = "";
  for (const byte of b) out += byte.toString(16).padStart(2, "0");
  return out;
}

function decodeEvenHex(body: string, original: string): Uint8Array {
  if (!HEX_BODY.test(body)) {
    throw new HexFormatError(`not a hex string: ${JSON.stringify(original)}; use only 0-9, a-f, A-F`, {
      value: original,
    });
  }
  const out = new Uint8Array(body.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(body.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Strict decoding: an optional leading `0x`, then an even number of hex digits.
 * Use for values that must already be well formed (signatures, hashes).
 */
export function hexToBytes(s: string): Uint8Array {
  const body = s.startsWith("0x") || s.startsWith("0X") ? s.slice(2) : s;
  if (body.length % 2 !== 0) {
    throw new HexFormatError(`hex string has odd length ${body.length}: ${JSON.stringify(s)}`, { value: s });
  }
  return decodeEvenHex(body, s);
}

/**
 * The reference's lenient normaliser for randomness strings (spec §2.1): trim, drop every
 * `0x`/`0X` anywhere, left-pad an odd length with one `0`, then decode.
 */
export function normalizeHex(s: string): Uint8Array {
  let body = s.trim().replaceAll("0x", "").replaceAll("0X", "");
  if (body.length % 2 === 1) body = `0${body}`;
  return decodeEvenHex(body, s);
}

export function sha256Hex(data: Uint8Array | string): string {
  return bytesToHex(sha256(typeof data === "string" ? utf8(data) : data));
}
