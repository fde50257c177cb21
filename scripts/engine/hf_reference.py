"""The HF transformers reference the validator runs (bf16, right-padded batches of 16, use_cache=False,
last hidden state after the final norm), plus random-init models with outlier channels and model-sampled
completions. Shared by make_goldens.py and accuracy.py; runs on a GPU machine with torch + transformers."""

import json
import math
import os
import random
import subprocess

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

PRIME_Q = 2147483647
CONFIGS = {"qwen2": Qwen2Config, "qwen3": Qwen3Config, "llama": LlamaConfig}


def r_vec(randomness_hex: str) -> list[int]:
    """generate_r_vec of the protocol (spec protocol.md §2.4)."""
    import hashlib

    h = randomness_hex.strip().replace("0x", "").replace("0X", "")
    if len(h) % 2:
        h = "0" + h
    raw = hashlib.shake_256(b"sketch" + b"||" + bytes.fromhex(h)).digest(32)
    out = []
    for i in range(16):
        v = int.from_bytes(raw[2 * i : 2 * i + 2], "big", signed=True)
        out.append(0 if v == -32768 else (abs(v) % 255) - 127)
    return out


def make_config(family: str, shape: dict):
    kw = dict(shape)
    rope = kw.pop("llama3_rope", None)
    theta = kw.pop("rope_theta", 10000.0)
    if rope is not None:
        kw["rope_scaling"] = {"rope_type": "llama3", **rope}
    kw["rope_theta"] = theta
    cfg = CONFIGS[family](**kw)
    # transformers 5 keeps rope settings in rope_parameters; make sure both spellings carry them
    if rope is not None and getattr(cfg, "rope_parameters", None) is not None:
        cfg.rope_parameters = {"rope_type": "llama3", "rope_theta": theta, **rope}
    elif getattr(cfg, "rope_parameters", None) is not None:
        cfg.rope_parameters = {"rope_type": "default", "rope_theta": theta}
    return cfg


def build_model(family: str, shape: dict, seed: int, attn: str = "sdpa"):
    """Random-init bf16 model on the GPU with outlier channels in the input/post-attention norms
    (scaled 10-100x, as trained LLMs have); the final norm stays at 1."""
    torch.manual_seed(seed)
    cfg = make_config(family, shape)
    with torch.device("cuda"):
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation=attn)
        except TypeError:
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation=attn)
    model.eval()
    gen = torch.Generator(device="cpu").manual_seed(seed + 1)
    hidden = cfg.hidden_size
    n_out = max(2, hidden // 256)
    with torch.no_grad():
        for layer in model.model.layers:
            for norm in (layer.input_layernorm, layer.post_attention_layernorm):
                idx = torch.randint(0, hidden, (n_out,), generator=gen)
                scale = 10 + 90 * torch.rand(n_out, generator=gen)
                norm.weight[idx] = (norm.weight[idx].float() * scale.cuda()).to(torch.bfloat16)
    rope_type = getattr(model.model.rotary_emb, "rope_type", "default")
    want = "llama3" if "llama3_rope" in shape else "default"
    if rope_type != want:
        raise RuntimeError(f"{family}: HF built rope type {rope_type}, wanted {want}")
    return model


def set_attention(model, impl: str):
    try:
        model.set_attn_implementation(impl)
    except Exception:
        model.config._attn_implementation = impl


def sample_rollouts(model, n: int, vocab: int, eos: int, prompt_range, max_new: int, seed: int):
    """Model-sampled completions (temperature 1, no top-k/top-p) after random-token prompts, 16 at a time
    with one prompt per batch, as a GRPO group shares its prompt (the engine then computes the prompt once);
    each completion is cut at its EOS or at a random length >= 32."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    rollouts = []
    while len(rollouts) < n:
        b = min(16, n - len(rollouts))
        plen = rng.randint(*prompt_range)
        prompts = torch.randint(0, vocab, (1, plen), device="cuda").repeat(b, 1)
        with torch.no_grad():
            out = model.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new,
                min_new_tokens=32,
                pad_token_id=eos,
                eos_token_id=eos,
            )
        for row in out.tolist():
            completion = row[plen:]
            if eos in completion:
                completion = completion[: completion.index(eos) + 1]
            else:
                completion = completion[: rng.randint(32, len(completion))]
            rollouts.append({"tokens": row[:plen] + completion, "promptLen": plen})
    return rollouts


def _buckets(vals: torch.Tensor) -> torch.Tensor:
    a = vals.abs()
    b = torch.clamp(torch.trunc(torch.log2(a + 1.0) * 0.8), 0, 7)
    b = torch.where(a < 1e-6, torch.zeros_like(b), b)
    b = torch.where(torch.isinf(vals), torch.full_like(b, 7), b)
    b = torch.where(torch.isnan(vals), torch.zeros_like(b), b)
    return torch.where(vals >= 0, b, -b)


def sketches(h: torch.Tensor, rvec: list[int]) -> list[int]:
    """Validator sketch of every row of h ([L, H] bf16): topk of |h|, indices sorted, float64 buckets."""
    idx = torch.topk(h.abs(), 16, dim=-1).indices.sort(dim=-1).values
    vals = torch.gather(h, -1, idx).double()
    r = torch.tensor(rvec, dtype=torch.float64, device=h.device)
    dot = (_buckets(vals) * r).sum(-1).round().long()
    return torch.remainder(dot, PRIME_Q).tolist()


def reference(model, rollouts, randomness: str, eos: int, batch: int = 16, pad: int = 0):
    """HF forward as the validator runs it, per rollout: sketches of every position, completion logprobs
    (fp32 log-softmax of the bf16 logits) and the EOS probability at len-2."""
    rvec = r_vec(randomness)
    out = []
    for s in range(0, len(rollouts), batch):
        chunk = rollouts[s : s + batch]
        L = max(len(r["tokens"]) for r in chunk)
        ids = torch.full((len(chunk), L), pad, dtype=torch.long, device="cuda")
        mask = torch.zeros((len(chunk), L), dtype=torch.long, device="cuda")
        for i, r in enumerate(chunk):
            ids[i, : len(r["tokens"])] = torch.tensor(r["tokens"], device="cuda")
            mask[i, : len(r["tokens"])] = 1
        with torch.no_grad():
            h = model.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            logits = model.lm_head(h)
            for i, r in enumerate(chunk):
                n, p = len(r["tokens"]), r["promptLen"]
                lp = torch.log_softmax(logits[i, :n].float(), dim=-1)
                toks = torch.tensor(r["tokens"], device="cuda")
                comp = lp[p - 1 : n - 1].gather(-1, toks[p:n, None])[:, 0]
                eos_prob = torch.softmax(logits[i, n - 2].float(), dim=-1)[eos].item()
                out.append({"sVals": sketches(h[i, :n], rvec), "logprobs": comp.tolist(), "eosProb": eos_prob})
        del h, logits
    return out


def sketch_tolerance(p: int) -> int:
    return math.floor(6000 + 5.0 * math.sqrt(p))


def compare(rollouts, ref, act, seed: int = 7):
    """Figures of proof-engine.md "How to know it is right" for act against ref."""
    rng = random.Random(seed)
    dists, devs, over, fails = [], [], 0, 0
    for r, a, b in zip(rollouts, ref, act):
        d = np.abs(np.array(a["sVals"], dtype=np.int64) - np.array(b["sVals"], dtype=np.int64))
        d = np.minimum(d, PRIME_Q - d)
        dists.append(d)
        over += sum(int(x > sketch_tolerance(p)) for p, x in enumerate(d))
        dev = np.expm1(np.abs(np.array(a["logprobs"], dtype=np.float64) - np.array(b["logprobs"], dtype=np.float64)))
        devs.append(dev)
        pos = rng.sample(range(len(dev)), min(32, len(dev)))
        if float(np.median(dev[pos])) > 0.10:
            fails += 1
    d = np.concatenate(dists)
    v = np.concatenate(devs)
    return {
        "positions": int(d.size),
        "sketch_max": int(d.max()),
        "sketch_p999": float(np.percentile(d, 99.9)),
        "sketch_mean": float(d.mean()),
        "identical": float((d == 0).mean()),
        "over_tolerance": int(over),
        "median_lp_dev": float(np.median(v)),
        "rollouts_failing_lp": int(fails),
        "rollouts": len(rollouts),
    }


def run_engine(driver: str, model_dir: str, backend: str, rollouts, randomness: str, workdir: str):
    req = os.path.join(workdir, "engine-request.json")
    res = os.path.join(workdir, "engine-result.json")
    with open(req, "w") as f:
        json.dump({"modelDir": model_dir, "backend": backend, "randomness": randomness, "rollouts": rollouts}, f)
    subprocess.run(["node", driver, "prove", req, res], check=True)
    with open(res) as f:
        return json.load(f)


def versions() -> str:
    return f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name(0)}"
