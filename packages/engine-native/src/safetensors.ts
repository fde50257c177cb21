import { closeSync, openSync, readSync, writeFileSync } from "node:fs";
import { EngineError } from "./errors.js";

export type SafetensorsDtype = "BF16" | "F16" | "F32";

/** One tensor of a safetensors file: where its bytes are (absolute file offsets) and what they hold. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly path: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Reads the JSON header of a safetensors file without touching the tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsEntry[] {
  const fd = openSync(path, "r");
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) {
      throw new EngineError("bad_safetensors", `${path} is shorter than a safetensors header`, { path });
    }
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES) {
      throw new EngineError(
        "bad_safetensors",
        `${path} declares an implausible header of ${headerLen} bytes`,
        {
          path,
        },
      );
    }
    const headerBuf = Buffer.alloc(headerLen);
    if (readSync(fd, headerBuf, 0, headerLen, 8) !== headerLen) {
      throw new EngineError("bad_safetensors", `${path} is truncated inside its header`, { path });
    }
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new EngineError(
        "bad_safetensors",
        `${path} has an unparsable header: ${(err as Error).message}`,
        {
          path,
        },
      );
    }
    const dataStart = 8 + headerLen;
    const entries: SafetensorsEntry[] = [];
    for (const [name, value] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const offsets = v.data_offsets as [number, number] | undefined;
      if (
        typeof v.dtype !== "string" ||
        !Array.isArray(v.shape) ||
        !Array.isArray(offsets) ||
        offsets.length !== 2 ||
        typeof offsets[0] !== "number" ||
        typeof offsets[1] !== "number"
      ) {
        throw new EngineError("bad_safetensors", `${path}: header entry for tensor ${name} is malformed`, {
          path,
          tensor: name,
        });
      }
      entries.push({
        name,
        path,
        dtype: v.dtype,
        shape: v.shape as number[],
        begin: dataStart + offsets[0],
        end: dataStart + offsets[1],
      });
    }
    return entries;
  } finally {
    closeSync(fd);
  }
}

export interface TensorToWrite {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Raw little-endian element bytes (2 per element for BF16/F16, 4 for F32). */
  readonly data: Uint8Array;
}

/** Writes tensors as a safetensors file (header padded to 8 bytes, tensors in the given order). */
export function writeSafetensors(path: string, tensors: Readonly<Record<string, TensorToWrite>>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const headerBytes = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileSync(
    path,
    Buffer.concat([len, headerBytes, ...Object.values(tensors).map((t) => Buffer.from(t.data))]),
  );
}
