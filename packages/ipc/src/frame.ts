import { FrameError } from "./errors.js";

/** Element types a payload may have; every payload is little-endian. */
export type Dtype = "uint8" | "int32" | "uint32" | "float32" | "float64";

export type PayloadArray = Uint8Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** Where one payload sits in a frame's payload section; `length` counts elements, not bytes. */
export interface PayloadDescriptor {
  name: string;
  dtype: Dtype;
  byteOffset: number;
  length: number;
}

export type Payloads = Readonly<Record<string, PayloadArray>>;

/** A decoded frame: the header object (without its `payloads` table) and the payload arrays. */
export interface Frame {
  header: Record<string, unknown>;
  payloads: Record<string, PayloadArray>;
}

export const ELEMENT_BYTES: Readonly<Record<Dtype, number>> = {
  uint8: 1,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
};

/** The frame length prefix (u32 LE) and the header length field (u32 LE). */
export const FRAME_PREFIX_BYTES = 4;
const HEADER_LENGTH_BYTES = 4;
/** Payloads start on this alignment within the frame, so readers may view them in place. */
export const PAYLOAD_ALIGNMENT = 8;
/** A u32 length prefix caps a frame body at 4 GiB − 1. */
export const MAX_FRAME_BODY_BYTES = 0xffffffff;
/** Default bound on one frame: far above a real batch (thousands of rollouts × thousands of tokens). */
export const DEFAULT_MAX_FRAME_BYTES = 512 * 1024 * 1024;

const DTYPES = new Set<string>(Object.keys(ELEMENT_BYTES));

export function dtypeOf(array: PayloadArray): Dtype {
  if (array instanceof Uint8Array) return "uint8";
  if (array instanceof Int32Array) return "int32";
  if (array instanceof Uint32Array) return "uint32";
  if (array instanceof Float32Array) return "float32";
  if (array instanceof Float64Array) return "float64";
  throw new TypeError("payloads must be Uint8Array, Int32Array, Uint32Array, Float32Array or Float64Array");
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!IS_LITTLE_ENDIAN) {
  // Payload bytes are copied as the platform lays them out; a big-endian host would need byte swaps.
  throw new Error("the IPC codec supports little-endian hosts only");
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Encodes one frame: `[u32 LE body length][u32 LE header length][header JSON][payloads]`, where the
 * body is everything after the first field. The header gets a `payloads` table listing each array's
 * name, dtype, byte offset in the payload section and element count. Header JSON is padded with
 * spaces so the payload section (and every payload) starts 8-byte aligned in the frame.
 */
export function encodeFrame(header: Record<string, unknown>, payloads: Payloads = {}): Buffer {
  if ("payloads" in header) throw new TypeError('"payloads" is a reserved header key');
  const table: PayloadDescriptor[] = [];
  let payloadBytes = 0;
  for (const [name, array] of Object.entries(payloads)) {
    payloadBytes = align(payloadBytes, PAYLOAD_ALIGNMENT);
    table.push({ name, dtype: dtypeOf(array), byteOffset: payloadBytes, length: array.length });
    payloadBytes += array.byteLength;
  }
  let json = Buffer.from(JSON.stringify({ ...header, payloads: table }), "utf8");
  const start = FRAME_PREFIX_BYTES + HEADER_LENGTH_BYTES + json.length;
  const pad = align(start, PAYLOAD_ALIGNMENT) - start;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const body = HEADER_LENGTH_BYTES + json.length + payloadBytes;
  if (body > MAX_FRAME_BODY_BYTES) {
    throw new RangeError(`frame body of ${body} bytes exceeds the 4 GiB limit of the length prefix`);
  }
  const out = Buffer.alloc(FRAME_PREFIX_BYTES + body);
  out.writeUInt32LE(body, 0);
  out.writeUInt32LE(json.length, FRAME_PREFIX_BYTES);
  json.copy(out, FRAME_PREFIX_BYTES + HEADER_LENGTH_BYTES);
  const section = FRAME_PREFIX_BYTES + HEADER_LENGTH_BYTES + json.length;
  table.forEach((d) => {
    const a = payloads[d.name]!;
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), section + d.byteOffset);
  });
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The request id a broken header still names, so the error reply can be correlated. */
function idOf(header: unknown): number | null {
  if (!isRecord(header)) return null;
  const id = header.id;
  return typeof id === "number" && Number.isSafeInteger(id) ? id : null;
}

interface FrameHeader {
  header: Record<string, unknown>;
  table: PayloadDescriptor[];
  headerLength: number;
  id: number | null;
}

/** Reads and checks the header of a frame body (its payload section may be missing). Throws FrameError. */
function readHeader(body: Uint8Array): FrameHeader {
  if (body.length < HEADER_LENGTH_BYTES) {
    throw new FrameError("malformed_frame", `frame body of ${body.length} bytes has no header length field`);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const headerLength = view.getUint32(0, true);
  if (headerLength > body.length - HEADER_LENGTH_BYTES) {
    throw new FrameError(
      "malformed_frame",
      `header length ${headerLength} exceeds the ${body.length - HEADER_LENGTH_BYTES} bytes left in the frame`,
    );
  }
  const headerBytes = body.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + headerLength);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (err) {
    throw new FrameError("invalid_header", `header is not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed)) throw new FrameError("invalid_header", "header must be a JSON object");
  const id = idOf(parsed);
  const { payloads: rawTable = [], ...header } = parsed;
  if (!Array.isArray(rawTable)) {
    throw new FrameError("invalid_header", "header field payloads must be an array", id);
  }
  const table: PayloadDescriptor[] = [];
  const names = new Set<string>();
  for (const entry of rawTable) {
    if (!isRecord(entry)) throw new FrameError("invalid_header", "a payloads entry is not an object", id);
    const { name, dtype, byteOffset, length } = entry;
    if (typeof name !== "string" || name.length === 0) {
      throw new FrameError("invalid_header", "a payload has no name", id);
    }
    if (names.has(name)) {
      throw new FrameError("invalid_header", `payload ${name} is listed twice`, id);
    }
    names.add(name);
    if (typeof dtype !== "string" || !DTYPES.has(dtype)) {
      throw new FrameError(
        "invalid_header",
        `payload ${name} has dtype ${JSON.stringify(dtype)}; allowed: ${[...DTYPES].join(", ")}`,
        id,
      );
    }
    if (!Number.isSafeInteger(byteOffset) || (byteOffset as number) < 0) {
      throw new FrameError("invalid_header", `payload ${name} has a bad byteOffset`, id);
    }
    if (!Number.isSafeInteger(length) || (length as number) < 0) {
      throw new FrameError("invalid_header", `payload ${name} has a bad length`, id);
    }
    table.push({ name, dtype: dtype as Dtype, byteOffset: byteOffset as number, length: length as number });
  }
  return { header, table, headerLength, id };
}

/** Body bytes a frame with this header has: encoders write nothing after the last payload. */
function describedBodyBytes(h: FrameHeader): number {
  let end = 0;
  for (const d of h.table) end = Math.max(end, d.byteOffset + d.length * ELEMENT_BYTES[d.dtype]);
  return HEADER_LENGTH_BYTES + h.headerLength + end;
}

/** Decodes one frame body (the bytes after the length prefix). Throws FrameError. */
export function decodeFrameBody(body: Uint8Array): Frame {
  const { header, table, headerLength, id } = readHeader(body);
  const section = body.subarray(HEADER_LENGTH_BYTES + headerLength);
  const payloads: Record<string, PayloadArray> = {};
  for (const { name, dtype, byteOffset: start, length } of table) {
    const bytes = length * ELEMENT_BYTES[dtype];
    if (start + bytes > section.length) {
      throw new FrameError(
        "malformed_frame",
        `payload ${name} (${bytes} bytes at ${start}) runs past the ${section.length}-byte payload section`,
        id,
      );
    }
    // Copy into a fresh buffer: the frame may sit at any alignment inside the read buffer.
    const copy = new Uint8Array(bytes);
    copy.set(section.subarray(start, start + bytes));
    payloads[name] = viewAs(dtype, copy.buffer);
  }
  return { header, payloads };
}

function viewAs(dtype: Dtype, buffer: ArrayBuffer): PayloadArray {
  switch (dtype) {
    case "uint8":
      return new Uint8Array(buffer);
    case "int32":
      return new Int32Array(buffer);
    case "uint32":
      return new Uint32Array(buffer);
    case "float32":
      return new Float32Array(buffer);
    case "float64":
      return new Float64Array(buffer);
  }
}

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; error: FrameError };

/**
 * Incremental decoder for a byte stream of frames. Every problem is reported as a result rather
 * than thrown, and the stream stays in sync: a frame whose body is malformed is dropped whole, a
 * frame over the size limit is skipped without being buffered, and a length prefix longer than
 * the frame its header describes is refused as soon as that frame is in: waiting for the missing
 * bytes would swallow the frames after it.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private skipping = 0;
  /** Body length the current frame's header describes: undefined until read, null if unreadable. */
  private described: number | null | undefined;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes held for an incomplete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): DecodeResult[] {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, data.length);
      this.skipping -= n;
      data = data.subarray(n);
      if (data.length === 0) return [];
    }
    this.chunks.push(data);
    this.buffered += data.length;
    const out: DecodeResult[] = [];
    for (;;) {
      if (this.buffered < FRAME_PREFIX_BYTES) break;
      const head = this.peek(FRAME_PREFIX_BYTES);
      const body = head.readUInt32LE(0);
      if (body > this.maxFrameBytes) {
        this.consume(FRAME_PREFIX_BYTES);
        const n = Math.min(body, this.buffered);
        this.consume(n);
        this.skipping = body - n;
        this.described = undefined;
        out.push({
          ok: false,
          error: new FrameError(
            "frame_too_large",
            `frame of ${body} bytes exceeds the ${this.maxFrameBytes}-byte limit; it was skipped`,
          ),
        });
        if (this.skipping > 0) break;
        continue;
      }
      const described = this.describedBody(body);
      if (typeof described === "number" && body > described) {
        if (this.buffered < FRAME_PREFIX_BYTES + described) break;
        this.described = undefined;
        this.consume(FRAME_PREFIX_BYTES);
        const header = readHeader(this.consume(described));
        out.push({
          ok: false,
          error: new FrameError(
            "malformed_frame",
            `length prefix says ${body} bytes but the header describes ${described}; the frame was dropped and decoding goes on after it`,
            header.id,
          ),
        });
        continue;
      }
      if (this.buffered < FRAME_PREFIX_BYTES + body) break;
      this.described = undefined;
      this.consume(FRAME_PREFIX_BYTES);
      const bytes = this.consume(body);
      try {
        out.push({ ok: true, frame: decodeFrameBody(bytes) });
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        out.push({ ok: false, error: err });
      }
    }
    return out;
  }

  /**
   * The body length the current frame's header describes, once the header is buffered (undefined
   * before); null when the header cannot be read (decodeFrameBody reports why once the body is in).
   */
  private describedBody(body: number): number | null | undefined {
    if (this.described !== undefined) return this.described;
    if (body < HEADER_LENGTH_BYTES) {
      this.described = null;
      return null;
    }
    if (this.buffered < FRAME_PREFIX_BYTES + HEADER_LENGTH_BYTES) return undefined;
    const headerLength = this.peek(FRAME_PREFIX_BYTES + HEADER_LENGTH_BYTES).readUInt32LE(FRAME_PREFIX_BYTES);
    const end = FRAME_PREFIX_BYTES + HEADER_LENGTH_BYTES + headerLength;
    if (headerLength <= body - HEADER_LENGTH_BYTES && this.buffered < end) return undefined;
    this.described = null;
    if (headerLength <= body - HEADER_LENGTH_BYTES) {
      try {
        this.described = describedBodyBytes(readHeader(this.peek(end).subarray(FRAME_PREFIX_BYTES)));
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
      }
    }
    return this.described;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private consume(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
