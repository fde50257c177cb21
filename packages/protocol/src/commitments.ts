import { sha256 } from "@noble/hashes/sha2.js";
import { COMMIT_DOMAIN } from "./constants.js";
import { ProtocolViolationError } from "./errors.js";
import { concatBytes, normalizeHex, utf8 } from "./hex.js";
import { hashTokens } from "./prf.js";

/** A `commit.commitments` text that is not a list of `{"sketch": <integer>}` objects. */
export class CommitmentsFormatError extends ProtocolViolationError {}

function checkSketch(value: number, i: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new CommitmentsFormatError(
      `sketch ${i} is ${value}; sketches must be integers or the commitments hash changes`,
      { position: i, value },
    );
  }
}

function joinSketches(sketches: ArrayLike<number>, open: string, sep: string): string {
  const parts = new Array<string>(sketches.length);
  for (let i = 0; i < sketches.length; i++) {
    const s = sketches[i]!;
    checkSketch(s, i);
    parts[i] = `${open}${s}}`;
  }
  return `[${parts.join(sep)}]`;
}

/** `json.dumps(c, sort_keys=True, separators=(",", ":"))`: the text that is hashed (spec §4.1). */
export function canonicalCommitmentsJson(sketches: ArrayLike<number>): string {
  return joinSketches(sketches, '{"sketch":', ",");
}

/** `json.dumps(c)` with default separators: the text stored in the Parquet column (spec §6.4). */
export function pythonCommitmentsJson(sketches: ArrayLike<number>): string {
  return joinSketches(sketches, '{"sketch": ', ", ");
}

const WS = new Set([" ", "\t", "\n", "\r"]);
const INTEGER = /-?(?:0|[1-9]\d*)/y;
const NUMBER_TAIL = /(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Parses a commitments column strictly: a JSON list whose elements are objects with the
 * single key "sketch" holding an integer literal. A literal such as `1.0` is refused because
 * the reference would re-serialise it as a float and hash different bytes.
 */
export function parseCommitmentsJson(text: string): number[] {
  let pos = 0;
  const fail = (what: string): never => {
    throw new CommitmentsFormatError(`commitments JSON: ${what} at offset ${pos}`, {
      offset: pos,
      excerpt: text.slice(Math.max(0, pos - 20), pos + 20),
    });
  };
  const skipWs = () => {
    while (pos < text.length && WS.has(text[pos]!)) pos++;
  };
  const expectChar = (c: string) => {
    skipWs();
    if (text[pos] !== c) fail(`expected '${c}'`);
    pos++;
  };
  const readKey = (): string => {
    skipWs();
    if (text[pos] !== '"') fail("expected a string key");
    const start = pos;
    pos++;
    while (pos < text.length && text[pos] !== '"') pos += text[pos] === "\\" ? 2 : 1;
    if (pos >= text.length) fail("unterminated string");
    pos++;
    try {
      return JSON.parse(text.slice(start, pos)) as string;
    } catch {
      return fail("invalid string escape");
    }
  };
  const readInteger = (): number => {
    skipWs();
    INTEGER.lastIndex = pos;
    const m = INTEGER.exec(text);
    if (!m) return fail("expected an integer sketch");
    pos += m[0].length;
    NUMBER_TAIL.lastIndex = pos;
    const tail = NUMBER_TAIL.exec(text);
    if (tail && tail[0].length > 0) fail(`sketch ${m[0]}${tail[0]} is not a JSON integer`);
    const value = Number(m[0]);
    if (!Number.isSafeInteger(value)) fail(`sketch ${m[0]} is out of range`);
    return value === 0 ? 0 : value;
  };

  const out: number[] = [];
  expectChar("[");
  skipWs();
  if (text[pos] === "]") {
    pos++;
  } else {
    for (;;) {
      expectChar("{");
      if (readKey() !== "sketch") fail('expected the only key to be "sketch"');
      expectChar(":");
      out.push(readInteger());
      expectChar("}");
      skipWs();
      if (text[pos] === ",") {
        pos++;
        continue;
      }
      expectChar("]");
      break;
    }
  }
  skipWs();
  if (pos !== text.length) fail("trailing characters");
  return out;
}

/** SHA-256 of the canonical commitments JSON (spec §4.1). */
export function hashCommitments(sketches: ArrayLike<number>): Uint8Array {
  return sha256(utf8(canonicalCommitmentsJson(sketches)));
}

export interface CommitBindingParts {
  tokens: ArrayLike<number>;
  randomnessHex: string;
  modelName: string;
  layerIndex: number;
}

function len32(part: Uint8Array): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, part.length);
  return out;
}

/** The byte string whose SHA-256 is the binding; exposed for diagnosing signature mismatches. */
export function commitBindingPreimage(
  input: CommitBindingParts & { commitmentsHash: Uint8Array },
): Uint8Array {
  if (!Number.isInteger(input.layerIndex) || input.layerIndex < -(2 ** 31) || input.layerIndex >= 2 ** 31) {
    throw new ProtocolViolationError(`layer index must be an int32, got ${input.layerIndex}`, {
      layerIndex: input.layerIndex,
    });
  }
  const layer = new Uint8Array(4);
  new DataView(layer.buffer).setInt32(0, input.layerIndex);
  const parts = [
    hashTokens(input.tokens),
    normalizeHex(input.randomnessHex),
    utf8(input.modelName),
    layer,
    input.commitmentsHash,
  ];
  const chunks: Uint8Array[] = [utf8(COMMIT_DOMAIN)];
  for (const p of parts) chunks.push(len32(p), p);
  return concatBytes(chunks);
}

/** Binding digest with the commitments hash already computed (spec §4.2). */
export function commitBindingFromHash(
  input: CommitBindingParts & { commitmentsHash: Uint8Array },
): Uint8Array {
  return sha256(commitBindingPreimage(input));
}

/** The 32-byte digest `commit.signature` signs (spec §4.2). */
export function commitBinding(input: CommitBindingParts & { sketches: ArrayLike<number> }): Uint8Array {
  return commitBindingFromHash({ ...input, commitmentsHash: hashCommitments(input.sketches) });
}
