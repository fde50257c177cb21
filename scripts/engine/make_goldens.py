"""Builds the tiny random models of each family and their HF goldens for the engine's CI tests:
packages/engine-native/test/fixtures/<family>/{config.json, model.safetensors, goldens.json}.
GPU machine: python3 scripts/engine/make_goldens.py [outDir]"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as hf  # noqa: E402

RANDOMNESS = "6a1d3c0ffee0d15ea5e5ca1ab1e0000000000000000000000000000000000042"
TINY = {
    "qwen2": dict(vocab_size=2048, hidden_size=256, intermediate_size=704, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                  rms_norm_eps=1e-6, tie_word_embeddings=False, eos_token_id=2047, bos_token_id=2046,
                  initializer_range=0.05, rope_theta=1000000.0),
    "qwen3": dict(vocab_size=2048, hidden_size=128, intermediate_size=384, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096,
                  rms_norm_eps=1e-6, tie_word_embeddings=True, eos_token_id=2047, bos_token_id=2046,
                  initializer_range=0.05, rope_theta=1000000.0),
    "llama": dict(vocab_size=3000, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=4096,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, eos_token_id=2999, bos_token_id=2998,
                  initializer_range=0.05, rope_theta=500000.0,
                  llama3_rope=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                   original_max_position_embeddings=64)),
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "packages/engine-native/test/fixtures"
    for seed, (family, shape) in enumerate(TINY.items()):
        out = os.path.join(root, family)
        os.makedirs(out, exist_ok=True)
        model = hf.build_model(family, shape, seed=100 + seed)
        model.save_pretrained(out, safe_serialization=True)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(out, extra)):
                os.remove(os.path.join(out, extra))
        eos = shape["eos_token_id"]
        rollouts = hf.sample_rollouts(model, 32, shape["vocab_size"], eos, (8, 60), 200, seed=200 + seed)
        ref = hf.reference(model, rollouts, RANDOMNESS, eos)
        goldens = {
            "family": family,
            "reference": f"HF SDPA bf16, right-padded batches of 16, use_cache=False; {hf.versions()}",
            "randomness": RANDOMNESS,
            "rollouts": [{**r, **x} for r, x in zip(rollouts, ref)],
        }
        with open(os.path.join(out, "goldens.json"), "w") as f:
            json.dump(goldens, f, separators=(",", ":"))
        n = sum(len(r["tokens"]) for r in rollouts)
        print(f"{family}: {len(rollouts)} rollouts, {n} positions -> {out}", flush=True)


if __name__ == "__main__":
    main()
