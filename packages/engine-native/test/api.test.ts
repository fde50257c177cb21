import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  availableBackends,
  EngineError,
  loadModel,
  readSafetensorsHeader,
  writeSafetensors,
} from "../src/index.js";
import { readBuildInfo } from "../src/native.js";
import type { TensorToWrite } from "../src/safetensors.js";
import { tinyModel, tokenSeq } from "./helpers.js";

const RANDOMNESS = "ab".repeat(32);

async function expectEngineError(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe(code);
  expect((err as EngineError).message).toMatch(text);
}

/** Rewrites model.safetensors through fn(tensors). */
function editWeights(dir: string, fn: (t: Record<string, TensorToWrite>) => void): void {
  const path = join(dir, "model.safetensors");
  const file = readFileSync(path);
  const tensors: Record<string, TensorToWrite> = {};
  for (const e of readSafetensorsHeader(path)) {
    tensors[e.name] = {
      dtype: e.dtype as TensorToWrite["dtype"],
      shape: e.shape,
      data: new Uint8Array(file.subarray(e.begin, e.end)),
    };
  }
  fn(tensors);
  writeSafetensors(path, tensors);
}

function editConfig(dir: string, patch: Record<string, unknown>): void {
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), ...patch }));
}

const batchOf = (n: number, len: number) =>
  Array.from({ length: n }, (_, i) => ({ tokens: tokenSeq(len + 7 * i, 300, 100 + i), promptLen: 5 + i }));

describe("engine API (CPU backend)", () => {
  it("gives every rollout the same result alone as in a packed batch", async () => {
    const model = await loadModel(tinyModel("qwen2"), { backend: "cpu" });
    const batch = batchOf(5, 40);
    const together = await model.prove(batch, RANDOMNESS);
    for (let i = 0; i < batch.length; i++) {
      const [alone] = await model.prove([batch[i]!], RANDOMNESS);
      expect(together[i]!.sVals).toEqual(alone!.sVals);
      expect(together[i]!.logprobs).toEqual(alone!.logprobs);
      expect(together[i]!.eosProb).toBe(alone!.eosProb);
    }
    model.close();
  });

  it("reads bf16, fp32 and fp16 weights, sharded or not, and tied embeddings", async () => {
    const batch = batchOf(2, 30);
    const prove = async (dir: string) => {
      const m = await loadModel(dir, { backend: "cpu" });
      const r = await m.prove(batch, RANDOMNESS);
      m.close();
      return r;
    };
    const bf16 = await prove(tinyModel("llama"));
    // fp32 values round to the same bf16 the bf16 file holds
    expect(await prove(tinyModel("llama", { dtype: "F32" }))).toEqual(bf16);
    expect(await prove(tinyModel("llama", { shards: 3 }))).toEqual(bf16);
    const fp16 = await prove(tinyModel("llama", { dtype: "F16" }));
    expect(fp16[0]!.logprobs.length).toBe(bf16[0]!.logprobs.length);
    const tied = await loadModel(tinyModel("qwen3", { tieWordEmbeddings: true }), { backend: "cpu" });
    const [p] = await tied.prove([batch[0]!], RANDOMNESS);
    expect(p!.logprobs.every((x) => Number.isFinite(x) && x <= 0)).toBe(true);
    tied.close();
  });

  it("reloads weights in place without reallocating, and refuses another architecture", async () => {
    const dirA = tinyModel("qwen2", { seed: 1 });
    const dirB = tinyModel("qwen2", { seed: 2 });
    const model = await loadModel(dirA, { backend: "cpu" });
    const batch = batchOf(2, 30);
    const a = await model.prove(batch, RANDOMNESS);
    const before = model.weightStats();
    await model.reload(dirB);
    expect(model.modelDir).toBe(dirB);
    expect(model.weightStats().weightAllocations).toBe(before.weightAllocations);
    const b = await model.prove(batch, RANDOMNESS);
    expect(b[0]!.sVals).not.toEqual(a[0]!.sVals);
    await model.reload(dirA);
    expect(await model.prove(batch, RANDOMNESS)).toEqual(a);
    await expectEngineError(
      model.reload(tinyModel("qwen2", { numLayers: 3 })),
      "architecture_changed",
      /different/,
    );
    model.close();
    await expectEngineError(model.prove(batch, RANDOMNESS), "closed", /closed/);
  });

  it("returns last-position logits for generation", async () => {
    const model = await loadModel(tinyModel("qwen3"), { backend: "cpu" });
    const seqs = [tokenSeq(12, 300, 1), tokenSeq(33, 300, 2)];
    const logits = await model.lastLogits(seqs);
    expect(logits.map((l) => l.length)).toEqual([300, 300]);
    const [alone] = await model.lastLogits([seqs[1]!]);
    expect(logits[1]).toEqual(alone);
    model.close();
  });

  it("keeps the event loop free while proving", async () => {
    const model = await loadModel(tinyModel("qwen2"), { backend: "cpu", threads: 1 });
    let ticks = 0;
    let done = false;
    const spin = () => {
      if (done) return;
      ticks++;
      setImmediate(spin);
    };
    setImmediate(spin);
    await model.prove(batchOf(16, 120), RANDOMNESS);
    done = true;
    expect(ticks).toBeGreaterThan(1);
    model.close();
  });

  it("names the missing tensor", async () => {
    const dir = tinyModel("qwen3");
    editWeights(dir, (t) => {
      delete t["model.layers.1.self_attn.k_norm.weight"];
    });
    await expectEngineError(
      loadModel(dir, { backend: "cpu" }),
      "missing_tensor",
      /model\.layers\.1\.self_attn\.k_norm\.weight/,
    );
  });

  it("names a mis-shaped tensor and its expected shape", async () => {
    const dir = tinyModel("qwen2");
    editWeights(dir, (t) => {
      const e = t["model.layers.0.mlp.up_proj.weight"]!;
      t["model.layers.0.mlp.up_proj.weight"] = { ...e, shape: [e.shape[1]!, e.shape[0]!] };
    });
    await expectEngineError(
      loadModel(dir, { backend: "cpu" }),
      "bad_shape",
      /up_proj\.weight has shape \[64, 160\].*\[160, 64\]/,
    );
  });

  it("refuses weights holding NaN or infinity at load and at reload, naming the tensor", async () => {
    // bf16 NaN in one layer's weights.
    const a = tinyModel("qwen2");
    editWeights(a, (t) => {
      const data = t["model.layers.1.mlp.down_proj.weight"]!.data;
      new DataView(data.buffer, data.byteOffset).setUint16(2 * 37, 0x7fc0, true);
    });
    await expectEngineError(
      loadModel(a, { backend: "cpu" }),
      "non_finite_weights",
      /model\.layers\.1\.mlp\.down_proj\.weight holds NaN at element 37/,
    );
    // fp32 infinity, and an fp32 value too large for bf16 (it would compute as infinity).
    for (const value of [Number.POSITIVE_INFINITY, 3.5e38]) {
      const b = tinyModel("qwen2", { dtype: "F32" });
      editWeights(b, (t) => {
        const data = t["model.norm.weight"]!.data;
        new DataView(data.buffer, data.byteOffset).setFloat32(4 * 3, value, true);
      });
      await expectEngineError(
        loadModel(b, { backend: "cpu" }),
        "non_finite_weights",
        /model\.norm\.weight holds infinity at element 3/,
      );
    }
    // A reload onto a poisoned checkpoint is refused the same way.
    const model = await loadModel(tinyModel("qwen2"), { backend: "cpu" });
    await expectEngineError(model.reload(a), "non_finite_weights", /down_proj\.weight holds NaN/);
    model.close();
  });

  it("rejects unsupported model types, dtypes and rope types by name", async () => {
    const a = tinyModel("llama");
    editConfig(a, { model_type: "mistral" });
    await expectEngineError(loadModel(a, { backend: "cpu" }), "unsupported_model_type", /"mistral"/);
    const b = tinyModel("llama");
    editWeights(b, (t) => {
      const e = t["model.norm.weight"]!;
      t["model.norm.weight"] = { dtype: "I8" as never, shape: e.shape, data: new Uint8Array(e.shape[0]!) };
    });
    await expectEngineError(
      loadModel(b, { backend: "cpu" }),
      "unsupported_dtype",
      /model\.norm\.weight has dtype I8/,
    );
    const c = tinyModel("llama");
    editConfig(c, { rope_scaling: { rope_type: "yarn", factor: 4 } });
    await expectEngineError(loadModel(c, { backend: "cpu" }), "unsupported_config", /rope type "yarn"/);
    await expectEngineError(loadModel(join(c, "nope"), { backend: "cpu" }), "missing_file", /config\.json/);
  });

  it("validates rollouts at the edge", async () => {
    const model = await loadModel(tinyModel("qwen2"), { backend: "cpu" });
    await expectEngineError(
      model.prove([{ tokens: [1, 2, 3], promptLen: 0 }], RANDOMNESS),
      "invalid_input",
      /promptLen/,
    );
    await expectEngineError(
      model.prove([{ tokens: [1, 300], promptLen: 1 }], RANDOMNESS),
      "invalid_input",
      /token 300/,
    );
    await expectEngineError(model.prove([{ tokens: [1, 2], promptLen: 1 }], "xyz"), "invalid_input", /hex/);
    expect(await model.prove([], RANDOMNESS)).toEqual([]);
    model.close();
  });

  it("reports the backends of this build", async () => {
    const report = availableBackends();
    expect(report.cpu.available).toBe(true);
    const build = readBuildInfo();
    if (!build.cuda.built) {
      expect(report.cuda.available).toBe(false);
      expect(report.cuda.reason).toBe(build.cuda.reason);
      expect(report.cuda.reason!.length).toBeGreaterThan(10);
      await expectEngineError(
        loadModel(tinyModel("qwen2"), { backend: "cuda" }),
        "cuda_unavailable",
        /not available/,
      );
      const auto = await loadModel(tinyModel("qwen2"));
      expect(auto.backend).toBe("cpu");
      auto.close();
    } else if (!report.cuda.available) {
      expect(report.cuda.reason).toMatch(/\S/);
    } else {
      expect(report.cuda.devices!.length).toBeGreaterThan(0);
    }
  });
});
