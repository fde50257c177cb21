/**
 * Tensor dtypes as safetensors names them, and the few float conversions delta
 * reconstruction can need (a delta's values are cast to the base weights' dtype, as
 * `tensor.to(dtype)` does in the reference: round-to-nearest-even, NaN kept NaN).
 */
import { SafetensorsFormatError } from "./errors.js";

export type Dtype =
  | "BOOL"
  | "U8"
  | "I8"
  | "F8_E5M2"
  | "F8_E4M3"
  | "I16"
  | "U16"
  | "F16"
  | "BF16"
  | "I32"
  | "U32"
  | "F32"
  | "F64"
  | "I64"
  | "U64";

/** Declaration order of the safetensors Rust enum; serialisation sorts by it (descending). */
export const DTYPE_ORDER: readonly Dtype[] = [
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "F64",
  "I64",
  "U64",
];

const SIZES: Record<Dtype, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export function isDtype(s: string): s is Dtype {
  return Object.hasOwn(SIZES, s);
}

export function dtypeSize(dtype: Dtype): number {
  return SIZES[dtype];
}

/** The sparse codec's `value_dtype` names (torch's) mapped to safetensors names. */
export function dtypeFromCodecName(name: string): Dtype {
  switch (name) {
    case "bfloat16":
      return "BF16";
    case "float16":
      return "F16";
    case "float32":
      return "F32";
    default:
      throw new SafetensorsFormatError(`unsupported delta value dtype ${JSON.stringify(name)}`, {
        dtype: name,
      });
  }
}

export function codecNameFromDtype(dtype: Dtype): "bfloat16" | "float16" | "float32" {
  if (dtype === "BF16") return "bfloat16";
  if (dtype === "F16") return "float16";
  if (dtype === "F32") return "float32";
  throw new SafetensorsFormatError(`the sparse codec stores only bf16/f16/f32 values, not ${dtype}`, {
    dtype,
  });
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let out = mant >>> shift;
    if (rest > half || (rest === half && out & 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, and into infinity past the max.
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out++;
  return sign | out;
}

/**
 * Re-encodes `count` elements from one float dtype to another (bf16/f16/f32 only).
 * Identical dtypes copy bytes unchanged.
 */
export function convertFloats(src: Uint8Array, from: Dtype, to: Dtype): Uint8Array {
  if (from === to) return new Uint8Array(src);
  const count = src.byteLength / dtypeSize(from);
  const read = floatReader(src, from);
  const out = new Uint8Array(count * dtypeSize(to));
  const dv = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    const v = read(i);
    if (to === "F32") dv.setFloat32(i * 4, v, true);
    else if (to === "BF16") dv.setUint16(i * 2, f32ToBf16(v), true);
    else if (to === "F16") dv.setUint16(i * 2, f32ToF16(v), true);
    else throw new SafetensorsFormatError(`cannot convert ${from} values to ${to}`, { from, to });
  }
  return out;
}

function floatReader(src: Uint8Array, dtype: Dtype): (i: number) => number {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (dtype === "F32") return (i) => dv.getFloat32(i * 4, true);
  if (dtype === "BF16") return (i) => bf16ToF32(dv.getUint16(i * 2, true));
  if (dtype === "F16") return (i) => f16ToF32(dv.getUint16(i * 2, true));
  throw new SafetensorsFormatError(`cannot convert ${dtype} tensors (only bf16/f16/f32)`, { dtype });
}
