import { sha256 } from "@noble/hashes/sha2.js";
import { shake256 } from "@noble/hashes/sha3.js";
import { ProtocolViolationError } from "./errors.js";
import { concatBytes, utf8 } from "./hex.js";

const SEPARATOR = utf8("||");
const MAX_PRF_BYTES = 65536;

/**
 * SHAKE256(label ‖ "||" ‖ part₁ ‖ "||" ‖ … ‖ partₘ), first `n` bytes (spec §2.2). The
 * separator follows the label even with zero parts; there is no length prefixing.
 */
export function prf(label: string | Uint8Array, parts: readonly Uint8Array[], n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PRF_BYTES) {
    throw new ProtocolViolationError(
      `prf output length must be an integer in [0, ${MAX_PRF_BYTES}], got ${n}`,
      {
        n,
      },
    );
  }
  if (n === 0) return new Uint8Array(0);
  const chunks: Uint8Array[] = [typeof label === "string" ? utf8(label) : label, SEPARATOR];
  parts.forEach((part, i) => {
    if (i > 0) chunks.push(SEPARATOR);
    chunks.push(part);
  });
  return shake256(concatBytes(chunks), { dkLen: n });
}

/** Each id as uint32 BE (reduced mod 2^32), concatenated (spec §2.3). */
export function tokensToBytes(tokens: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(tokens.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isSafeInteger(t)) {
      throw new ProtocolViolationError(`token at position ${i} is not an integer: ${t}`, {
        position: i,
        token: t,
      });
    }
    view.setUint32(i * 4, t >>> 0);
  }
  return out;
}

/** SHA-256 of the uint32-BE encoding of the token ids (spec §2.3). */
export function hashTokens(tokens: ArrayLike<number>): Uint8Array {
  return sha256(tokensToBytes(tokens));
}
