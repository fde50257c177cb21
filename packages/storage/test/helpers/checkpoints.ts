/** Small synthetic model weights for checkpoint tests. */
import type { Dtype, StateDict } from "../../src/index.js";
import { dtypeSize, f32ToBf16 } from "../../src/index.js";

const SHAPES: Array<[string, number[]]> = [
  ["lm_head.weight", [64, 32]],
  ["model.embed_tokens.weight", [64, 32]],
  ["model.layers.0.mlp.up_proj.weight", [48, 32]],
  ["model.layers.0.self_attn.q_proj.bias", [32]],
  ["model.norm.weight", [32]],
];

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function randomBits(dtype: Dtype, rand: () => number): number {
  const v = (rand() - 0.5) * 0.2;
  return dtype === "BF16" ? f32ToBf16(v) : Math.round(rand() * 0xffff);
}

/** Deterministic weights for a seed (names in sorted order, as a loaded checkpoint). */
export function randomState(seed: number, dtype: Dtype = "BF16"): StateDict {
  const rand = rng(seed);
  const state: StateDict = new Map();
  for (const [name, shape] of SHAPES) {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = new Uint8Array(count * dtypeSize(dtype));
    const dv = new DataView(data.buffer);
    for (let i = 0; i < count; i++) dv.setUint16(i * 2, randomBits(dtype, rand), true);
    state.set(name, { dtype, shape: [...shape], data });
  }
  return state;
}

/** A copy of `base` with about `fraction` of every tensor's elements changed. */
export function mutateState(base: StateDict, seed: number, fraction: number): StateDict {
  const rand = rng(seed);
  const out: StateDict = new Map();
  for (const [name, t] of base) {
    const data = t.data.slice();
    const dv = new DataView(data.buffer);
    const count = data.byteLength / 2;
    for (let i = 0; i < count; i++) {
      if (rand() < fraction)
        dv.setUint16(i * 2, (dv.getUint16(i * 2, true) + 1 + Math.floor(rand() * 50)) & 0xffff, true);
    }
    out.set(name, { dtype: t.dtype, shape: [...t.shape], data });
  }
  return out;
}

/** Names whose dtype, shape or bytes differ (or that exist on one side only). */
export function diffStates(a: StateDict, b: StateDict): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  const out: string[] = [];
  for (const n of names) {
    const x = a.get(n);
    const y = b.get(n);
    if (
      !x ||
      !y ||
      x.dtype !== y.dtype ||
      x.shape.join() !== y.shape.join() ||
      !Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).equals(
        Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength),
      )
    ) {
      out.push(n);
    }
  }
  return out.sort();
}
