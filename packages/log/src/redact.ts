import { maskMnemonics } from "./mnemonic.js";
import type { SecretRegistry } from "./secrets.js";

export const REDACTED = "[redacted]";

/** Field names that always hold secrets. */
const ALWAYS_SECRET = /secret|password|passphrase|mnemonic|private/i;
/** Field names that usually hold secrets (`WANDB_API_KEY`, `apiKey`, `seed`), unless listed below. */
const LIKELY_SECRET = /_key|key$|seed/i;
/**
 * Names matched by LIKELY_SECRET that are public by construction:
 * - access key *ids* (`R2_READ_ACCESS_KEY_ID`, `access_key_id`): identifiers committed on chain;
 *   only the secret access key is secret;
 * - hotkey/coldkey names and ss58 addresses: public on chain;
 * - public keys;
 * - object-store keys (`objectKey`, `cacheKey`): object paths, vital when debugging uploads;
 * - protocol seeds derived from public data (`envSeed`, `problemSeed`, `episodeSeed`).
 * A bare `key` stays redacted: it is too ambiguous to trust.
 */
const PUBLIC_NAMES: readonly RegExp[] = [
  /key_?id$/i,
  /^(hot|cold)_?key(_?(ss58|address|name))?$/i,
  /public_?key/i,
  /^(object|cache|s3)_?key$/i,
  /^(env|problem|episode)_?seed$/i,
];
/**
 * Fields whose values are public 32-byte digests (block hashes, randomness, commitment hashes);
 * inside them a `0x` + 64-hex string is kept. Everywhere else (including message text) such a
 * string is masked, because it is also the shape of a raw private key or seed.
 */
const PUBLIC_DIGEST_NAMES = /hash|randomness|digest|challenge|beacon|root|genesis/i;

const PRIVATE_KEY_HEX = /0x[0-9a-fA-F]{64}(?![0-9a-fA-F])/g;

/** True when a field of this name must be hidden whatever its value. */
export function isSecretFieldName(name: string): boolean {
  if (ALWAYS_SECRET.test(name)) return true;
  if (!LIKELY_SECRET.test(name)) return false;
  return !PUBLIC_NAMES.some((re) => re.test(name));
}

/** Masks registered secrets, mnemonic-looking word runs and (unless `digestContext`) 0x+64-hex strings. */
export function redactText(text: string, secrets: SecretRegistry, digestContext = false): string {
  let out = secrets.scrub(text, REDACTED);
  if (!digestContext) out = out.replace(PRIVATE_KEY_HEX, REDACTED);
  return maskMnemonics(out, REDACTED);
}

/**
 * Returns a redacted, JSON-safe copy of `value`: secret-named fields are replaced whole, strings are
 * scrubbed, Errors become plain objects (name, message, stack, cause, own fields), bigints become
 * strings, byte arrays become hex, cycles become "[circular]". The input is never modified.
 */
export function redactValue(value: unknown, secrets: SecretRegistry): unknown {
  return walk(value, secrets, false, new WeakSet());
}

function walk(
  value: unknown,
  secrets: SecretRegistry,
  digestContext: boolean,
  seen: WeakSet<object>,
): unknown {
  if (typeof value === "string") return redactText(value, secrets, digestContext);
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol") return String(value);
    return value;
  }
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  try {
    if (value instanceof Error) return walkRecord(errorToRecord(value), secrets, seen);
    if (value instanceof Uint8Array) {
      return redactText(
        Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex"),
        secrets,
      );
    }
    if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
    if (value instanceof Date) return value.toISOString();
    if (value instanceof Map) {
      return walkRecord(
        Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), v])),
        secrets,
        seen,
      );
    }
    if (value instanceof Set) return [...value].map((v) => walk(v, secrets, digestContext, seen));
    if (Array.isArray(value)) return value.map((v) => walk(v, secrets, digestContext, seen));
    return walkRecord(value as Record<string, unknown>, secrets, seen);
  } finally {
    seen.delete(value);
  }
}

function walkRecord(record: Record<string, unknown>, secrets: SecretRegistry, seen: WeakSet<object>) {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(record)) {
    if (isSecretFieldName(key)) {
      out[key] = v === undefined || v === null || v === "" ? v : REDACTED;
      continue;
    }
    out[key] = walk(v, secrets, PUBLIC_DIGEST_NAMES.test(key), seen);
  }
  return out;
}

function errorToRecord(err: Error): Record<string, unknown> {
  const record: Record<string, unknown> = { name: err.name, message: err.message };
  if (err.stack) record.stack = err.stack;
  for (const [k, v] of Object.entries(err)) record[k] = v;
  if (err.cause !== undefined) record.cause = err.cause;
  return record;
}
