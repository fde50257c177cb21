"""CUDA engine vs the HF reference (SDPA, right-padded batches of 16) on random-init models of real shapes
with outlier channels and model-sampled completions, next to the natural drift of HF itself (eager
attention, batch 1) against the same reference (spec/proof-engine.md "How to know it is right").

GPU machine, repository root, after building the addon with CUDA:
  python3 scripts/engine/accuracy.py <driver.mjs> [outDir] [shape ...]
Prints the table and writes accuracy.json (and a markdown table) to outDir after each shape."""

import gc
import json
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as hf  # noqa: E402
from model_shapes import SHAPES  # noqa: E402,F401  (also imported from here by scripts/workers/make_batch.py)

RANDOMNESS = "3b5d5c3712955042212a1f5f6e4e9c3b1f2e8d7c6b5a4938271605f4e3d2c1b0"
# Three batches of 16: short, medium and long prompts; completions sampled up to 480 tokens, so
# rollouts span about 60 to 4000 tokens.
PROMPT_RANGES = [(20, 200), (600, 1600), (3584, 3616)]  # the long batch reaches 4096 tokens
MAX_NEW = 480

COLUMNS = ["sketch_max", "sketch_p999", "sketch_mean", "identical", "over_tolerance", "median_lp_dev",
           "rollouts_failing_lp"]


def fmt(name, who, r):
    return (f"| {name} | {who} | {r['sketch_max']} | {r['sketch_p999']:.0f} | {r['sketch_mean']:.1f} | "
            f"{100 * r['identical']:.1f}% | {r['over_tolerance']} | {r['median_lp_dev']:.4f} | "
            f"{r['rollouts_failing_lp']} of {r['rollouts']} |")


def run_shape(name, family, shape, driver, work):
    t0 = time.time()
    model = hf.build_model(family, shape, seed=1000 + list(SHAPES).index(name))
    model_dir = os.path.join(work, name)
    model.save_pretrained(model_dir, safe_serialization=True)
    eos = shape["eos_token_id"]
    rollouts = []
    for i, pr in enumerate(PROMPT_RANGES):
        rollouts += hf.sample_rollouts(model, 16, shape["vocab_size"], eos, pr, MAX_NEW, seed=31 * i + 5)
    t_gen = time.time()
    ref = hf.reference(model, rollouts, RANDOMNESS, eos, batch=16)
    hf.set_attention(model, "eager")
    print(f"{name}: drift run with attention {model.config._attn_implementation}", flush=True)
    drift = hf.reference(model, rollouts, RANDOMNESS, eos, batch=1)
    t_ref = time.time()
    del model
    gc.collect()
    torch.cuda.empty_cache()
    engine = hf.run_engine(driver, model_dir, "cuda", rollouts, RANDOMNESS, work)
    lengths = [len(r["tokens"]) for r in rollouts]
    res = {
        "shape": name,
        "rollouts": len(rollouts),
        "min_len": min(lengths),
        "max_len": max(lengths),
        "positions": sum(lengths),
        "engine": hf.compare(rollouts, ref, engine["rollouts"]),
        "drift": hf.compare(rollouts, ref, drift),
        "engine_seconds": engine["seconds"],
        "timing": {"build_generate": t_gen - t0, "hf_reference_and_drift": t_ref - t_gen},
    }
    os.system(f"rm -rf '{model_dir}'")
    return res


def main():
    driver = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "."
    names = sys.argv[3:] or list(SHAPES)
    work = tempfile.mkdtemp(prefix="engine-accuracy-")
    print(hf.versions(), flush=True)
    results = []
    for name in names:
        family, shape = SHAPES[name]
        r = run_shape(name, family, shape, driver, work)
        results.append(r)
        print(f"{name}: {r['rollouts']} rollouts of {r['min_len']}-{r['max_len']} tokens ({r['positions']} positions), "
              f"engine {r['engine_seconds']:.2f} s, {json.dumps(r['timing'])}", flush=True)
        print(fmt(name, "engine (CUDA)", r["engine"]), flush=True)
        print(fmt(name, "HF eager batch 1", r["drift"]), flush=True)
        ok = r["engine"]["over_tolerance"] == 0 and all(
            r["engine"][k] <= r["drift"][k] for k in ("sketch_max", "sketch_p999", "sketch_mean", "median_lp_dev",
                                                     "rollouts_failing_lp"))
        print(f"{name}: engine {'at least as close as' if ok else 'NOT as close as'} the natural drift", flush=True)
        with open(os.path.join(out, "accuracy.json"), "w") as f:
            json.dump({"versions": hf.versions(), "randomness": RANDOMNESS, "results": results}, f, indent=1)
    header = ("| shape | compared with HF SDPA batch 16 | sketch max | sketch p99.9 | sketch mean | identical | "
              "over tolerance | median exp(\\|Δlp\\|)−1 | rollouts failing logprob test |\n|---|---|---|---|---|---|---|---|---|")
    print(header)
    for r in results:
        print(fmt(r["shape"], "engine (CUDA)", r["engine"]))
        print(fmt(r["shape"], "HF eager batch 1", r["drift"]))


if __name__ == "__main__":
    main()
