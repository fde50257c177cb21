import { describe, expect, it } from "vitest";
import { batchMemoryNeed, EngineError, loadModel, proofMemoryNeed } from "../src/index.js";
import { TINY, tinyModel } from "./helpers.js";

// config.json of Qwen2.5-7B and Qwen2.5-1.5B (the fields the engine reads).
const QWEN_COMMON = {
  model_type: "qwen2",
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1e6,
  eos_token_id: 151645,
};
const QWEN25_7B = {
  ...QWEN_COMMON,
  vocab_size: 152064,
  hidden_size: 3584,
  intermediate_size: 18944,
  num_hidden_layers: 28,
  num_attention_heads: 28,
  num_key_value_heads: 4,
  tie_word_embeddings: false,
};
const QWEN25_1_5B = {
  ...QWEN_COMMON,
  vocab_size: 151936,
  hidden_size: 1536,
  intermediate_size: 8960,
  num_hidden_layers: 28,
  num_attention_heads: 12,
  num_key_value_heads: 2,
  tie_word_embeddings: true,
};

const MiB = 2 ** 20;

/**
 * What the CUDA backend reserves for a batch, written out from cuda_backend.cu's buffers (not from
 * memory_plan.cpp): per computed row the token and position (int32), h, x, tmp and hl (H each), qkv,
 * attention out, gate/up (2I) and the MLP product (I), all bf16, and its sketch value (uint32); per
 * segment 16 bytes; the cos and sin tables (rows: 1024 doubled past the longest sequence, headDim/2
 * bf16 each); per lm_head row its position and logprob index (int64), target and EOS sequence (int32)
 * and its logprob (float); one logits chunk of at most 512 MiB of bf16 rows and its gathered hidden
 * states; 16 r-vector ints and one EOS probability (double) per rollout.
 */
function cudaReserves(
  d: { H: number; I: number; q: number; kv: number; hd: number; V: number },
  b: { rows: number; segments: number; maxLen: number; logitRows: number; rollouts: number },
): number {
  const perRow = 4 + 4 + 2 * (4 * d.H + (d.q + 2 * d.kv) + d.q + 2 * d.I + d.I) + 4;
  let ropeRows = 1024;
  while (ropeRows < b.maxLen) ropeRows *= 2;
  const chunk = Math.min(b.logitRows, Math.floor((512 * MiB) / (2 * d.V)));
  return (
    b.rows * perRow +
    16 * b.segments +
    2 * ropeRows * (d.hd / 2) * 2 +
    b.logitRows * (8 + 8 + 4 + 4 + 4) +
    chunk * (d.V + d.H) * 2 +
    16 * 4 +
    b.rollouts * 8
  );
}

const DIMS_7B = { H: 3584, I: 18944, q: 3584, kv: 512, hd: 128, V: 152064 };

describe("proofMemoryNeed", () => {
  it("counts the weights of Qwen2.5-7B and Qwen2.5-1.5B as their published parameter counts, in bf16", () => {
    // model.num_parameters() of the HF checkpoints: 7,615,616,512 (lm_head separate) and
    // 1,543,714,304 (embeddings tied).
    expect(proofMemoryNeed(QWEN25_7B, { tokensPerRollout: 600 }).weightsBytes).toBe(2 * 7_615_616_512);
    expect(proofMemoryNeed(QWEN25_1_5B, { tokensPerRollout: 600 }).weightsBytes).toBe(2 * 1_543_714_304);
  });

  it("counts the weights the CPU backend loads, for every family, tied and untied", async () => {
    const cases = [
      tinyModel("qwen2"),
      tinyModel("qwen2", { tieWordEmbeddings: true }),
      tinyModel("qwen3"),
      tinyModel("llama", { tieWordEmbeddings: true }),
    ];
    for (const dir of cases) {
      const model = await loadModel(dir, { backend: "cpu", threads: 1 });
      try {
        // The CPU backend keeps the same tensors as fp32 (4 bytes), the CUDA backend as bf16 (2).
        const cpuElements = model.weightStats().weightBytes / 4;
        expect(proofMemoryNeed(dir, { tokensPerRollout: 32 }).weightsBytes).toBe(cpuElements * 2);
      } finally {
        model.close();
      }
    }
  });

  it("sizes a 16-rollout group with its prompt computed once, as the CUDA backend reserves it", () => {
    // The benchmark's long case: prompt 1000 + completion 3000.
    const need = proofMemoryNeed(QWEN25_7B, { rollouts: 16, tokensPerRollout: 4000, promptTokens: 1000 });
    expect(need.batch).toEqual({
      rollouts: 16,
      tokens: 64_000,
      rowsComputed: 1000 + 16 * 3000,
      logitRows: 16 * 3000,
      sharedPrompts: true,
    });
    expect(need.activationBytes).toBe(
      cudaReserves(DIMS_7B, { rows: 49_000, segments: 17, maxLen: 4000, logitRows: 48_000, rollouts: 16 }),
    );
    expect(need.workspaceBytes).toBe(64 * MiB);
    expect(need.totalBytes).toBe(need.weightsBytes + need.activationBytes + need.workspaceBytes);
  });

  it("computes every rollout's prompt when sharing is off", () => {
    const shape = { tokensPerRollout: 4000, promptTokens: 1000 };
    const off = proofMemoryNeed(QWEN25_7B, { ...shape, sharePrompts: false });
    expect(off.batch.rowsComputed).toBe(64_000);
    expect(off.batch.logitRows).toBe(48_000);
    expect(off.activationBytes).toBe(
      cudaReserves(DIMS_7B, { rows: 64_000, segments: 16, maxLen: 4000, logitRows: 48_000, rollouts: 16 }),
    );
    expect(off.activationBytes).toBeGreaterThan(proofMemoryNeed(QWEN25_7B, shape).activationBytes);
  });

  it("assumes by default the longest completion the protocol allows after the prompt", () => {
    // 12288 tokens (GRAIL_PIPELINE_MAX_MODEL_LEN's default): completions up to 8192, the prompt the rest.
    const long = proofMemoryNeed(QWEN25_7B, { tokensPerRollout: 12_288 });
    expect(long.batch.rowsComputed).toBe(4096 + 16 * 8192);
    expect(long.batch.logitRows).toBe(16 * 8192);
    expect(long.activationBytes).toBe(
      cudaReserves(DIMS_7B, {
        rows: 4096 + 16 * 8192,
        segments: 17,
        maxLen: 12_288,
        logitRows: 16 * 8192,
        rollouts: 16,
      }),
    );
    // Under the cap a one-token prompt leaves the most rows.
    expect(proofMemoryNeed(QWEN25_7B, { tokensPerRollout: 4096 }).batch.rowsComputed).toBe(1 + 16 * 4095);
  });

  it("lays out a given batch as the engine does: equal prompts once, different ones each", () => {
    const dir = tinyModel("qwen2");
    const prompt = [5, 6, 7, 8];
    const batch = [
      { tokens: [...prompt, 1, 2, 3], promptLen: 4 },
      { tokens: [...prompt, 9], promptLen: 4 },
      { tokens: [5, 6, 7, 9, 1, 1], promptLen: 4 }, // another prompt of the same length
    ];
    const need = batchMemoryNeed(dir, batch);
    expect(need.batch.rowsComputed).toBe(4 + 3 + 1 + 4 + 2);
    expect(need.batch.logitRows).toBe(3 + 1 + 2);
    const tiny = TINY.qwen2;
    const hd = tiny.hiddenSize / tiny.numAttentionHeads;
    expect(need.activationBytes).toBe(
      cudaReserves(
        {
          H: tiny.hiddenSize,
          I: tiny.intermediateSize,
          q: tiny.hiddenSize,
          kv: tiny.numKeyValueHeads * hd,
          hd,
          V: tiny.vocabSize,
        },
        { rows: 14, segments: 5, maxLen: 7, logitRows: 6, rollouts: 3 },
      ),
    );
    expect(batchMemoryNeed(dir, batch, { sharePrompts: false }).batch.rowsComputed).toBe(7 + 5 + 6);
  });

  it("refuses shapes the engine cannot prove and configs it cannot read, naming what is wrong", () => {
    const bad = (f: () => unknown, code: string, text: RegExp) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toBe(code);
      expect((err as EngineError).message).toMatch(text);
    };
    bad(() => proofMemoryNeed(QWEN25_7B, { tokensPerRollout: 1 }), "invalid_input", /tokensPerRollout/);
    bad(() => proofMemoryNeed(QWEN25_7B, { tokensPerRollout: 40.5 }), "invalid_input", /tokensPerRollout/);
    bad(
      () => proofMemoryNeed(QWEN25_7B, { tokensPerRollout: 100, promptTokens: 100 }),
      "invalid_input",
      /promptTokens must be an integer in \[1, 99\]/,
    );
    bad(
      () => proofMemoryNeed(QWEN25_7B, { rollouts: 0, tokensPerRollout: 100 }),
      "invalid_input",
      /rollouts/,
    );
    bad(
      () => proofMemoryNeed({ ...QWEN25_7B, hidden_size: undefined }, { tokensPerRollout: 100 }),
      "bad_config",
      /hidden_size/,
    );
    bad(() => batchMemoryNeed(QWEN25_7B, []), "invalid_input", /empty/);
    bad(() => batchMemoryNeed(QWEN25_7B, [{ tokens: [1, 2], promptLen: 2 }]), "invalid_input", /promptLen/);
  });
});
