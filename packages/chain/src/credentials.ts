import { CommitmentFormatError } from "./errors.js";

/** Length in characters of the string a GRAIL neuron commits (spec/chain.md §4.1). */
export const CREDENTIAL_COMMITMENT_LENGTH = 128;

const ACCOUNT_ID_WIDTH = 32;
const ACCESS_KEY_ID_WIDTH = 32;
const SECRET_KEY_WIDTH = 64;

/** The read-only R2 credentials a miner publishes so validators can fetch its files. */
export interface ReadCredentials {
  readonly accountId: string;
  readonly readAccessKeyId: string;
  readonly readSecretAccessKey: string;
}

/** A neuron's bucket as decoded from its commitment; the bucket is named after the account id. */
export interface BucketCredentials {
  readonly name: string;
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;

function field(label: string, raw: string, width: number): string {
  const value = raw.trim();
  if (value.length === 0) {
    throw new CommitmentFormatError(`${label} is empty; validators would skip the commitment. Set it.`, {
      field: label,
    });
  }
  if (!PRINTABLE_ASCII.test(value)) {
    // Non-ASCII would make the byte length differ from the character length the
    // reference assumes, and inner spaces would be stripped by the reader.
    throw new CommitmentFormatError(`${label} must be printable ASCII without spaces.`, { field: label });
  }
  if (value.length > width) {
    // The reference truncates silently, which publishes credentials that cannot work.
    throw new CommitmentFormatError(
      `${label} is ${value.length} characters; the on-chain format holds at most ${width}. Check the value.`,
      { field: label, length: value.length, width },
    );
  }
  return value.padEnd(width, " ");
}

/**
 * The exact 128-character commitment: account id, read access key id and read secret
 * key, each right-padded with spaces to 32, 32 and 64 characters.
 */
export function buildCredentialCommitment(credentials: ReadCredentials): string {
  return (
    field("R2 account id", credentials.accountId, ACCOUNT_ID_WIDTH) +
    field("R2 read access key id", credentials.readAccessKeyId, ACCESS_KEY_ID_WIDTH) +
    field("R2 read secret access key", credentials.readSecretAccessKey, SECRET_KEY_WIDTH)
  );
}

/**
 * The reader's rule: exactly 128 characters (code points, as Python's len counts),
 * split 32/32/64, each part stripped and non-empty; anything else is not a bucket.
 */
export function parseCredentialCommitment(text: string): BucketCredentials | null {
  const chars = [...text];
  if (chars.length !== CREDENTIAL_COMMITMENT_LENGTH) return null;
  const accountId = chars.slice(0, ACCOUNT_ID_WIDTH).join("").trim();
  const accessKeyId = chars
    .slice(ACCOUNT_ID_WIDTH, ACCOUNT_ID_WIDTH + ACCESS_KEY_ID_WIDTH)
    .join("")
    .trim();
  const secretAccessKey = chars
    .slice(ACCOUNT_ID_WIDTH + ACCESS_KEY_ID_WIDTH)
    .join("")
    .trim();
  if (!accountId || !accessKeyId || !secretAccessKey) return null;
  return { name: accountId, accountId, accessKeyId, secretAccessKey };
}
