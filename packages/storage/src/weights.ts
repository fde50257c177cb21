/**
 * Delta application and the weights hash (spec/miner-pipeline.md §6.7).
 */
import { createXXHash128 } from "hash-wasm";
import { convertFloats, dtypeSize } from "./dtype.js";
import { DeltaFormatError } from "./errors.js";
import { compareNames, numel, type StateDict, type Tensor } from "./safetensors.js";
import type { SparseTensorInput, SparseTensorUpdate } from "./sparse-codec.js";

/**
 * xxh3-128 over the raw bytes of every tensor in ascending name order (no names,
 * dtypes or shapes mixed in), as the trainer's `compute_weights_hash`; 32 hex chars.
 */
export async function weightsHash(state: StateDict): Promise<string> {
  const hasher = await createXXHash128();
  hasher.init();
  const names = [...state.keys()].sort(compareNames);
  const CHUNK = 64 * 1024 * 1024;
  for (const name of names) {
    const data = state.get(name)!.data;
    for (let off = 0; off < data.byteLength; off += CHUNK) {
      hasher.update(data.subarray(off, Math.min(data.byteLength, off + CHUNK)));
    }
  }
  return hasher.digest("hex");
}

/**
 * Returns a new state dict: every base tensor cast to the dtype of the base's first
 * tensor (the reference infers its target dtype that way), with the delta's values
 * assigned at their positions and the header's shape applied. Base tensors without an
 * update are carried over; updates for names absent from the base are ignored, as in
 * the reference.
 */
export function applySparseDelta(
  base: StateDict,
  updates: readonly SparseTensorUpdate[],
  opts: { inPlace?: boolean } = {},
): StateDict {
  const first = base.values().next();
  if (first.done) throw new DeltaFormatError("cannot apply a delta to an empty state dict", {});
  const target = first.value.dtype;
  const size = dtypeSize(target);
  const byName = new Map(updates.map((u) => [u.name, u]));
  const out: StateDict = new Map();
  for (const [name, tensor] of base) {
    const update = byName.get(name);
    // In place (the caller owns `base` and drops it) saves a full copy of the model per link.
    const data =
      opts.inPlace && tensor.dtype === target ? tensor.data : convertFloatsIfNeeded(tensor, target);
    if (!update) {
      out.set(name, { dtype: target, shape: [...tensor.shape], data });
      continue;
    }
    if (numel(update.shape) !== numel(tensor.shape)) {
      throw new DeltaFormatError(
        `delta for ${name} has shape [${update.shape}] but the base tensor is [${tensor.shape}]; wrong base checkpoint?`,
        { name, deltaShape: update.shape, baseShape: tensor.shape },
      );
    }
    const values =
      update.valueDtype === target ? update.values : convertFloats(update.values, update.valueDtype, target);
    const count = update.positions.length;
    if (values.byteLength !== count * size) {
      throw new DeltaFormatError(
        `delta for ${name}: ${count} positions but ${values.byteLength} value bytes`,
        { name },
      );
    }
    const total = numel(tensor.shape);
    if (size === 2) {
      const dst = alignedView(data, 2, total) as Uint16Array;
      const src = new Uint16Array(
        values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength),
      );
      for (let k = 0; k < count; k++) dst[update.positions[k]!] = src[k]!;
    } else if (size === 4) {
      const dst = alignedView(data, 4, total) as Uint32Array;
      const src = new Uint32Array(
        values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength),
      );
      for (let k = 0; k < count; k++) dst[update.positions[k]!] = src[k]!;
    } else {
      for (let k = 0; k < count; k++) {
        data.set(values.subarray(k * size, (k + 1) * size), update.positions[k]! * size);
      }
    }
    out.set(name, { dtype: target, shape: [...update.shape], data });
  }
  return out;
}

function alignedView(data: Uint8Array, size: 2 | 4, count: number): Uint16Array | Uint32Array {
  if (data.byteOffset % size !== 0) {
    throw new DeltaFormatError("internal: tensor buffer is not aligned for in-place assignment", {});
  }
  return size === 2
    ? new Uint16Array(data.buffer, data.byteOffset, count)
    : new Uint32Array(data.buffer, data.byteOffset, count);
}

/** A fresh, 8-byte aligned copy (typed-array views need the alignment). */
function convertFloatsIfNeeded(t: Tensor, target: Tensor["dtype"]): Uint8Array {
  if (t.dtype === target) {
    const copy = new Uint8Array(t.data.byteLength);
    copy.set(t.data);
    return copy;
  }
  return convertFloats(t.data, t.dtype, target);
}

/**
 * The sparse update turning `base` into `target`: every element whose bytes differ
 * (bitwise, so ±0 and NaN payload changes are kept), with the target's absolute values.
 * Used to publish checkpoints (devnet trainer, tests); tensors must match in dtype and size.
 */
export function diffStateDicts(base: StateDict, target: StateDict): SparseTensorInput[] {
  const updates: SparseTensorInput[] = [];
  for (const [name, t] of target) {
    const b = base.get(name);
    if (!b || b.dtype !== t.dtype || b.data.byteLength !== t.data.byteLength) {
      throw new DeltaFormatError(`cannot diff ${name}: missing in base or different dtype/size`, { name });
    }
    const size = dtypeSize(t.dtype);
    const count = t.data.byteLength / size;
    const positions: number[] = [];
    const values = new Uint8Array(t.data.byteLength);
    let n = 0;
    for (let i = 0; i < count; i++) {
      const off = i * size;
      let same = true;
      for (let j = 0; j < size; j++) {
        if (t.data[off + j] !== b.data[off + j]) {
          same = false;
          break;
        }
      }
      if (same) continue;
      positions.push(i);
      values.set(t.data.subarray(off, off + size), n * size);
      n++;
    }
    if (n > 0)
      updates.push({
        name,
        shape: [...t.shape],
        valueDtype: t.dtype,
        positions,
        values: values.slice(0, n * size),
      });
  }
  return updates;
}
