// An independent, deliberately naive TypeScript forward pass with the reference rounding points
// (spec/proof-engine.md "The forward pass"), used as an oracle for the native CPU backend on tiny models.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensorsHeader } from "../src/safetensors.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return x;
  u32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return f32[0]!;
}
const fr = Math.fround;

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

function loadTensors(dir: string): Tensors {
  const out: Tensors = new Map();
  const path = join(dir, "model.safetensors");
  const file = readFileSync(path);
  for (const e of readSafetensorsHeader(path)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (e.dtype === "F32") data[i] = bf16(file.readFloatLE(e.begin + 4 * i));
      else {
        u32[0] = file.readUInt16LE(e.begin + 2 * i) << 16;
        data[i] = f32[0]!;
      }
    }
    out.set(e.name, { shape: [...e.shape], data });
  }
  return out;
}

export interface ReferenceResult {
  hidden: Float32Array[]; // per position, after the final norm
  logits: (pos: number) => Float32Array;
}

export function referenceForward(dir: string, tokens: readonly number[]): ReferenceResult {
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  const W = loadTensors(dir);
  const w = (n: string) => W.get(n)!.data;
  const H: number = cfg.hidden_size;
  const nh: number = cfg.num_attention_heads;
  const nkv: number = cfg.num_key_value_heads;
  const hd: number = cfg.head_dim ?? H / nh;
  const I: number = cfg.intermediate_size;
  const eps: number = cfg.rms_norm_eps;
  const T = tokens.length;
  const linear = (x: Float32Array, wt: Float32Array, n: number, k: number, bias?: Float32Array) => {
    const y = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += x[i]! * wt[o * k + i]!;
      if (bias) s += bias[o]!;
      y[o] = bf16(s);
    }
    return y;
  };
  const rms = (x: Float32Array, wt: Float32Array) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = fr(1 / Math.sqrt(fr(fr(ss) / x.length) + fr(eps)));
    return x.map((v, i) => bf16(fr(wt[i]! * bf16(fr(v * inv)))));
  };
  const perHeadNorm = (x: Float32Array, n: number, wt: Float32Array) => {
    const out = new Float32Array(x.length);
    for (let i = 0; i < n; i++) out.set(rms(x.subarray(i * hd, (i + 1) * hd), wt), i * hd);
    return out;
  };
  // rope in fp32, llama3 scaling as transformers computes it
  const half = hd / 2;
  const theta = fr(cfg.rope_theta);
  let inv = Array.from({ length: half }, (_, i) => fr(1 / fr(theta ** fr((2 * i) / hd))));
  const rs = cfg.rope_scaling;
  if (rs && rs.rope_type === "llama3") {
    const lowW = fr(rs.original_max_position_embeddings / rs.low_freq_factor);
    const highW = fr(rs.original_max_position_embeddings / rs.high_freq_factor);
    inv = inv.map((f) => {
      const wl = fr(fr(2 * Math.PI) / f);
      let sc = wl > lowW ? fr(f / rs.factor) : f;
      if (!(wl < highW) && !(wl > lowW)) {
        const sm = fr(
          fr(fr(rs.original_max_position_embeddings / wl) - rs.low_freq_factor) /
            fr(rs.high_freq_factor - rs.low_freq_factor),
        );
        sc = fr(fr(fr(fr(1 - sm) * sc) / rs.factor) + fr(sm * sc));
      }
      return sc;
    });
  }
  const rope = (x: Float32Array, pos: number) => {
    const out = new Float32Array(x.length);
    for (let h = 0; h < x.length / hd; h++) {
      for (let i = 0; i < half; i++) {
        const ang = fr(pos * inv[i]!);
        const c = bf16(Math.cos(ang));
        const s = bf16(Math.sin(ang));
        const a = x[h * hd + i]!;
        const b = x[h * hd + i + half]!;
        out[h * hd + i] = bf16(bf16(a * c) + bf16(-b * s));
        out[h * hd + i + half] = bf16(bf16(b * c) + bf16(a * s));
      }
    }
    return out;
  };
  let h = tokens.map((t) => w("model.embed_tokens.weight").slice(t * H, (t + 1) * H));
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const bias = (n: string) => W.get(`${p}.self_attn.${n}_proj.bias`)?.data;
    const qs: Float32Array[] = [];
    const ks: Float32Array[] = [];
    const vs: Float32Array[] = [];
    for (let t = 0; t < T; t++) {
      const x = rms(h[t]!, w(`${p}.input_layernorm.weight`));
      let q = linear(x, w(`${p}.self_attn.q_proj.weight`), nh * hd, H, bias("q"));
      let k = linear(x, w(`${p}.self_attn.k_proj.weight`), nkv * hd, H, bias("k"));
      const v = linear(x, w(`${p}.self_attn.v_proj.weight`), nkv * hd, H, bias("v"));
      if (cfg.model_type === "qwen3") {
        const qn = w(`${p}.self_attn.q_norm.weight`);
        const kn = w(`${p}.self_attn.k_norm.weight`);
        q = perHeadNorm(q, nh, qn);
        k = perHeadNorm(k, nkv, kn);
      }
      qs.push(rope(q, t));
      ks.push(rope(k, t));
      vs.push(v);
    }
    const scale = fr(1 / Math.sqrt(hd));
    for (let t = 0; t < T; t++) {
      const attn = new Float32Array(nh * hd);
      for (let hh = 0; hh < nh; hh++) {
        const g = Math.floor(hh / (nh / nkv));
        const sc = [];
        for (let j = 0; j <= t; j++) {
          let d = 0;
          for (let e = 0; e < hd; e++) d += qs[t]![hh * hd + e]! * ks[j]![g * hd + e]!;
          sc.push(fr(fr(d) * scale));
        }
        const m = Math.max(...sc);
        const e = sc.map((s) => fr(Math.exp(s - m)));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += bf16(e[j]!) * vs[j]![g * hd + d]!;
          attn[hh * hd + d] = bf16(acc / sum);
        }
      }
      const o = linear(attn, w(`${p}.self_attn.o_proj.weight`), H, nh * hd);
      h[t] = h[t]!.map((v, i) => bf16(v + o[i]!));
      const x = rms(h[t]!, w(`${p}.post_attention_layernorm.weight`));
      const g = linear(x, w(`${p}.mlp.gate_proj.weight`), I, H);
      const u = linear(x, w(`${p}.mlp.up_proj.weight`), I, H);
      const m = g.map((gv, i) => bf16(bf16(fr(gv / fr(1 + fr(Math.exp(-gv))))) * u[i]!));
      const d = linear(m, w(`${p}.mlp.down_proj.weight`), H, I);
      h[t] = h[t]!.map((v, i) => bf16(v + d[i]!));
    }
    h = [...h];
  }
  const hidden = h.map((x) => rms(x, w("model.norm.weight")));
  const head = W.get("lm_head.weight")?.data ?? w("model.embed_tokens.weight");
  return {
    hidden,
    logits: (pos) => linear(hidden[pos]!, head, cfg.vocab_size, H),
  };
}

export function logSoftmaxAt(logits: Float32Array, token: number): number {
  let m = -Infinity;
  for (const v of logits) m = Math.max(m, v);
  let s = 0;
  for (const v of logits) s += Math.exp(v - m);
  return logits[token]! - m - Math.log(s);
}
