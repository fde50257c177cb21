"""Real model shapes (config.json fields) of the families the engine serves, for random-init models
built by hf_reference.build_model. Plain data, importable without torch: accuracy.py, the workers'
batch maker and the proof benchmark (scripts/bench/proof) share it.

SHAPES maps a shape name to (family, HF config keyword arguments); `llama3_rope` holds Llama 3 rope
scaling, which hf_reference.make_config turns into the transformers spelling."""

QWEN_COMMON = dict(max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
                   eos_token_id=151645, bos_token_id=151643)
SHAPES = {
    "Qwen2.5-1.5B": ("qwen2", dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960,
                                   num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                                   tie_word_embeddings=True, **QWEN_COMMON)),
    "Qwen3-1.7B": ("qwen3", dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144,
                                 num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                                 head_dim=128, tie_word_embeddings=True, **QWEN_COMMON)),
    "Llama-3.2-1B": ("llama", dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                                   num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                                   max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
                                   tie_word_embeddings=True, eos_token_id=128009, bos_token_id=128000,
                                   llama3_rope=dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                                    original_max_position_embeddings=8192))),
    "Qwen2.5-7B": ("qwen2", dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                                 num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                                 tie_word_embeddings=False, **QWEN_COMMON)),
}
