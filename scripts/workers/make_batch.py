"""Writes a random-init model of a real shape (with outlier channels, as trained LLMs have) and a
batch of model-sampled rollouts for the pool checks (scripts/workers/gpu-check.sh).

GPU machine, repository root:  python3 scripts/workers/make_batch.py <workDir> [shape] [groups]
Produces <workDir>/model (HF safetensors) and <workDir>/batch.json ({randomnessHex, modelName,
groupSize, rollouts:[{tokens, promptLen}]}, the --batch format of `pnpm worker` and gpu-check)."""

import json
import os
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(root, "scripts", "engine"))
import hf_reference as hf  # noqa: E402
from accuracy import SHAPES  # noqa: E402

RANDOMNESS = "c0ffee" * 10 + "beef"
# Three kinds of prompt, as in the engine's accuracy run; completions sampled up to 480 tokens.
PROMPT_RANGES = [(20, 200), (200, 800), (800, 1600)]


def main() -> int:
    work = sys.argv[1]
    shape_name = sys.argv[2] if len(sys.argv) > 2 else "Qwen2.5-1.5B"
    groups = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    family, shape = SHAPES[shape_name]
    t0 = time.time()
    model = hf.build_model(family, shape, seed=4242)
    model_dir = os.path.join(work, "model")
    model.save_pretrained(model_dir, safe_serialization=True)
    with open(os.path.join(model_dir, "metadata.json"), "w") as f:
        json.dump({"model_name": f"random/{shape_name}"}, f)
    rollouts = []
    for g in range(groups):
        rollouts += hf.sample_rollouts(model, 16, shape["vocab_size"], shape["eos_token_id"],
                                       PROMPT_RANGES[g % len(PROMPT_RANGES)], 480, seed=17 * g + 3)
    with open(os.path.join(work, "batch.json"), "w") as f:
        json.dump({"randomnessHex": RANDOMNESS, "modelName": f"random/{shape_name}", "groupSize": 16,
                   "rollouts": rollouts}, f)
    lengths = [len(r["tokens"]) for r in rollouts]
    print(f"{shape_name}: model and {len(rollouts)} sampled rollouts ({min(lengths)}-{max(lengths)} tokens) "
          f"in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
