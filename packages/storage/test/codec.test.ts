import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xxhash128 } from "hash-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applySparseDelta,
  bf16ToF32,
  DeltaFormatError,
  decodeSparseDelta,
  decodeSparsePayload,
  diffStateDicts,
  encodeSparseDelta,
  encodeSparsePayload,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  loadStateDict,
  readSafetensors,
  type SparseCodecFormat,
  type StateDict,
  weightsHash,
  writeSafetensors,
  zstdCompress,
  zstdDecompress,
  zstdFrameContentSize,
} from "../src/index.js";
import { diffStates, mutateState, randomState } from "./helpers/checkpoints.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "grail-codec-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("float conversions", () => {
  it("rounds f32 to bf16 to nearest even and keeps NaN", () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1.00390625)).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(1.01171875)).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16(-2.5)).toBe(0xc020);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(Number.NaN)))).toBe(true);
    expect(bf16ToF32(0x3f82)).toBe(1.015625);
  });

  it("converts f16 both ways including subnormals and overflow", () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(-0.5)).toBe(0xb800);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    for (let h = 0; h < 0x7c00; h += 97) expect(f32ToF16(f16ToF32(h))).toBe(h);
  });
});

describe("safetensors", () => {
  it("writes the reference layout and reads it back", async () => {
    const state = randomState(1, "BF16");
    state.set("lm_head.bias", {
      dtype: "F32",
      shape: [4],
      data: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer),
    });
    const path = join(dir, "m.safetensors");
    await writeSafetensors(path, state, { format: "pt" });
    const raw = await readFile(path);
    const headerLen = Number(raw.readBigUInt64LE(0));
    expect(headerLen % 8).toBe(0);
    const header = JSON.parse(raw.subarray(8, 8 + headerLen).toString());
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    // F32 sorts before BF16 (dtype descending), then names ascending.
    expect(names[0]).toBe("lm_head.bias");
    expect(names.slice(1)).toEqual([...names.slice(1)].sort());
    expect(header.__metadata__).toEqual({ format: "pt" });
    const back = await readSafetensors(path);
    expect(diffStates(back.tensors, state)).toEqual([]);
    expect([...back.tensors.keys()]).toEqual([...state.keys()].sort());
  });

  it("loads sharded checkpoints through the index", async () => {
    const state = randomState(2, "BF16");
    const names = [...state.keys()];
    const a: StateDict = new Map(names.slice(0, 2).map((n) => [n, state.get(n)!]));
    const b: StateDict = new Map(names.slice(2).map((n) => [n, state.get(n)!]));
    const shardDir = join(dir, "sharded");
    await rm(shardDir, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(shardDir));
    await writeSafetensors(join(shardDir, "model-00001-of-00002.safetensors"), a);
    await writeSafetensors(join(shardDir, "model-00002-of-00002.safetensors"), b);
    const weightMap = Object.fromEntries([
      ...[...a.keys()].map((n) => [n, "model-00001-of-00002.safetensors"]),
      ...[...b.keys()].map((n) => [n, "model-00002-of-00002.safetensors"]),
    ]);
    await writeFile(
      join(shardDir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: weightMap }),
    );
    expect(diffStates(await loadStateDict(shardDir), state)).toEqual([]);
  });

  it("rejects a truncated file", async () => {
    const path = join(dir, "t.safetensors");
    await writeSafetensors(path, randomState(3, "BF16"));
    const raw = await readFile(path);
    await writeFile(path, raw.subarray(0, raw.length - 10));
    await expect(readSafetensors(path)).rejects.toThrow(/truncated/);
  });
});

describe("weights hash", () => {
  it("is xxh3-128 over raw tensor bytes in name order", async () => {
    const state = randomState(4, "BF16");
    const names = [...state.keys()].sort();
    const concat = Buffer.concat(names.map((n) => state.get(n)!.data));
    expect(await weightsHash(state)).toBe(await xxhash128(concat));
    expect(await weightsHash(state)).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("zstd", () => {
  it("round-trips and exposes the frame content size", async () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 31) % 251);
    const c = await zstdCompress(data);
    expect(zstdFrameContentSize(c)).toBe(100_000);
    expect(Buffer.compare(Buffer.from(await zstdDecompress(c)), Buffer.from(data))).toBe(0);
  });

  it("reports corrupt and truncated frames", async () => {
    const c = await zstdCompress(new Uint8Array(50_000).map((_, i) => i & 0xff));
    await expect(zstdDecompress(c.subarray(0, c.length - 7))).rejects.toBeInstanceOf(DeltaFormatError);
    await expect(zstdDecompress(new Uint8Array([1, 2, 3, 4, 5, 6]))).rejects.toThrow(/not a zstd frame/);
  });
});

describe("sparse codec", () => {
  const formats: SparseCodecFormat[] = ["sparse_codec_v2", "sparse_codec_v3", "sparse_codec_v3.1"];

  for (const format of formats) {
    it(`${format}: decodes what it encodes and reconstructs the target byte for byte`, async () => {
      const base = randomState(10, "BF16");
      const target = mutateState(base, 11, 0.05);
      const { updates } = deltaBetween(base, target);
      const compressed = await encodeSparseDelta(updates, format);
      const decoded = await decodeSparseDelta(compressed, format);
      expect(decoded.map((d) => d.name)).toEqual(updates.map((u) => u.name).sort());
      const rebuilt = applySparseDelta(base, decoded);
      expect(diffStates(rebuilt, target)).toEqual([]);
      expect(await weightsHash(rebuilt)).toBe(await weightsHash(target));
      // The base is not modified unless asked.
      expect(diffStates(base, randomState(10, "BF16"))).toEqual([]);
    });
  }

  it("v3.1 narrows index dtypes; v3 keeps int32", () => {
    const base = randomState(12, "BF16");
    const { updates } = deltaBetween(base, mutateState(base, 13, 0.02));
    const header = (payload: Uint8Array) => {
      const len = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
      return JSON.parse(Buffer.from(payload.subarray(4, 4 + len)).toString());
    };
    const h31 = header(encodeSparsePayload(updates, 31));
    expect(h31.version).toBe(31);
    expect(h31.tensors[0].row_dtype).toBe("uint8");
    expect(["uint16", "int32"]).toContain(h31.tensors[0].col_dtype);
    const h3 = header(encodeSparsePayload(updates, 3));
    expect(h3.tensors[0].row_dtype).toBeUndefined();
    expect(h3.tensors[0].rows_size).toBe(h3.tensors[0].num_nonzero * 4);
  });

  it("decodes a hand-built v3 payload exactly as the spec describes", () => {
    // Tensor [3, 4]: positions (0,1), (0,3), (2,0), (2,2) -> rows_delta 0,0,2,0; cols_delta 1,2,0,2.
    const rows = new Int32Array([0, 0, 2, 0]);
    const cols = new Int32Array([1, 2, 0, 2]);
    const values = new Uint16Array([0x3f80, 0x4000, 0x4040, 0x4080]);
    const meta = {
      name: "w",
      shape: [3, 4],
      num_nonzero: 4,
      value_dtype: "bfloat16",
      indices_offset: 0,
      indices_size: 32,
      rows_size: 16,
      cols_size: 16,
      values_offset: 32,
      values_size: 8,
    };
    const header = Buffer.from(JSON.stringify({ version: 3, tensors: [meta] }));
    const payload = Buffer.concat([
      Buffer.from(new Uint32Array([header.length]).buffer),
      header,
      Buffer.from(rows.buffer),
      Buffer.from(cols.buffer),
      Buffer.from(values.buffer),
    ]);
    const [t] = decodeSparsePayload(payload, 3);
    expect([...t!.positions]).toEqual([1, 3, 8, 10]);
  });

  it("rejects a truncated payload, a wrong version and out-of-range indices", async () => {
    const base = randomState(14, "BF16");
    const { updates } = deltaBetween(base, mutateState(base, 15, 0.05));
    const payload = encodeSparsePayload(updates, 31);
    expect(() => decodeSparsePayload(payload.subarray(0, payload.length - 3), 31)).toThrow(/truncated/);
    expect(() => decodeSparsePayload(payload, 3)).toThrow(/version 31/);
    await expect(
      decodeSparseDelta(new Uint8Array([9, 9, 9, 9, 9, 9]), "sparse_codec_v3.1"),
    ).rejects.toBeInstanceOf(DeltaFormatError);
    await expect(decodeSparseDelta(await zstdCompress(payload), "sparse_codec_v9")).rejects.toThrow(
      /unsupported/,
    );
    const bad = encodeSparsePayload(
      [{ name: "w", shape: [2, 2], valueDtype: "BF16", positions: [7], values: new Uint8Array(2) }],
      2,
    );
    expect(() => decodeSparsePayload(bad, 2)).toThrow(/outside/);
  });

  it("casts f32 values to a bf16 base like tensor.to(dtype)", () => {
    const base: StateDict = new Map([["w", { dtype: "BF16", shape: [2], data: new Uint8Array(4) }]]);
    const out = applySparseDelta(base, [
      {
        name: "w",
        shape: [2],
        valueDtype: "F32",
        positions: new Float64Array([1]),
        values: new Uint8Array(new Float32Array([1.01171875]).buffer),
      },
    ]);
    expect([...new Uint16Array(out.get("w")!.data.buffer)]).toEqual([0, 0x3f82]);
  });
});

function deltaBetween(base: StateDict, target: StateDict) {
  return { updates: diffStateDicts(base, target) };
}
