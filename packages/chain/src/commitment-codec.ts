import type { Codec } from "@polkadot/types/types";

/**
 * Decoding of `Commitments.CommitmentOf` values (spec/chain.md §3.7): a
 * `Registration { deposit, block, info: { fields: Vec<Data> } }` where `Data` is the
 * pallet's enum whose `Raw0`..`Raw128` variants carry exactly N bytes and `BigRaw`
 * (newer runtimes) a length-prefixed byte string.
 */

interface EnumLike extends Codec {
  readonly type: string;
  readonly value: Codec;
}

interface StructLike extends Codec {
  get(name: string): Codec | undefined;
}

interface OptionLike extends Codec {
  readonly isSome: boolean;
  unwrap(): Codec;
}

function isOption(value: Codec): value is OptionLike {
  return typeof (value as Partial<OptionLike>).unwrap === "function" && "isSome" in value;
}

const RAW_VARIANT = /^Raw(\d{1,3})$/;

/** Bytes of one `Data` field when it is a raw variant (`RawN` or `BigRaw`), else null. */
export function dataFieldBytes(field: Codec): Uint8Array | null {
  const data = field as EnumLike;
  if (typeof data.type !== "string") return null;
  if (RAW_VARIANT.test(data.type) || data.type === "BigRaw") {
    // bare: no length prefix for BigRaw's Bytes, nothing to strip for [u8; N]
    return data.value.toU8a(true);
  }
  return null;
}

/**
 * Bytes of the first field of a commitment, the only one the reference reads.
 * Accepts the storage value as returned by polkadot-js (`Option<Registration>`) or the
 * bare `Registration`; returns null when absent, empty or not a raw variant.
 */
export function commitmentFirstFieldBytes(value: Codec | null | undefined): Uint8Array | null {
  if (!value) return null;
  let registration: Codec = value;
  if (isOption(registration)) {
    if (!registration.isSome) return null;
    registration = registration.unwrap();
  }
  const info = (registration as StructLike).get?.("info") as StructLike | undefined;
  const fields = info?.get?.("fields") as (Codec & ArrayLike<Codec>) | undefined;
  if (!fields || fields.length === 0) return null;
  const first = fields[0];
  return first ? dataFieldBytes(first) : null;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strict UTF-8 as the reference's commitment worker decodes (invalid bytes → entry skipped). */
export function decodeCommitmentText(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * The `info` argument of `Commitments.set_commitment` for one raw field. The variant
 * follows the byte length, and the payload is bytes (never a string: polkadot-js would
 * hex-decode a string starting with 0x).
 */
export function rawCommitmentInfo(payload: Uint8Array): { fields: Array<Record<string, Uint8Array>> } {
  if (payload.length > 128) {
    throw new RangeError(`a Raw commitment field holds at most 128 bytes, got ${payload.length}`);
  }
  return { fields: [{ [`Raw${payload.length}`]: payload }] };
}
