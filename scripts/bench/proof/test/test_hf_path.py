"""The HF side's batching on the CPU with torch (skipped without it): right padding, per-rollout slicing of
the packed results, and the case timer, on a stand-in model whose position t depends on token t alone,
so a padded batch must give exactly what each rollout gives by itself. The CUDA parts (peak matmul,
memory counters) run on the GPU machine only."""

import contextlib
import io
import json
import os
import sys
import tempfile
import types
import unittest

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(root, "packages", "proof-worker", "python"))

try:
    import torch
except ImportError:
    torch = None

import bench_hf  # noqa: E402
import benchlib  # noqa: E402

VOCAB, HIDDEN = 97, 24


def stand_in_model():
    """model.model(...).last_hidden_state and model.lm_head, as transformers' causal LMs have them."""
    torch.manual_seed(3)

    class Base(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, HIDDEN)

        def forward(self, input_ids, attention_mask, use_cache):
            assert use_cache is False
            out = type("Out", (), {})()
            out.last_hidden_state = torch.tanh(self.embed(input_ids)) * 3.0
            return out

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Base()
            self.lm_head = torch.nn.Linear(HIDDEN, VOCAB, bias=False)

    return LM().eval()


@unittest.skipIf(torch is None, "torch is not installed")
class HfPathTest(unittest.TestCase):
    def setUp(self):
        import grail_ipc
        import torch_worker

        self.tw = torch_worker
        self.model = stand_in_model()
        self.rvec = torch.tensor(grail_ipc.r_vec(benchlib.RANDOMNESS), dtype=torch.int64)
        config = dict(hidden_size=HIDDEN, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, vocab_size=VOCAB)
        cases = [benchlib.CaseSpec("standard", 2, 6, 3, 20), benchlib.CaseSpec("long", 1, 10, 30, 30)]
        self.workload = benchlib.make_workload(config, cases, seed=11)

    def alone(self, r):
        host = bench_hf.prove_group(torch, self.tw, self.model, [r], self.rvec, eos=5, pad=0, device="cpu")
        return bench_hf.as_proofs([r], host)[0]

    def test_a_padded_batch_gives_each_rollout_its_own_proof(self):
        group = self.workload["cases"][0]["groups"][0]
        host = bench_hf.prove_group(torch, self.tw, self.model, group, self.rvec, eos=5, pad=0, device="cpu")
        proofs = bench_hf.as_proofs(group, host)
        self.assertEqual(len(proofs), 16)
        for r, p in zip(group, proofs):
            n, k = len(r["tokens"]), r["promptLen"]
            self.assertEqual(len(p["sVals"]), n)
            self.assertEqual(len(p["logprobs"]), n - k)
            self.assertTrue(all(0 <= s < 2**31 - 1 for s in p["sVals"]))
            self.assertTrue(all(lp <= 0 for lp in p["logprobs"]))
            self.assertTrue(0 < p["eosProb"] < 1)
            want = self.alone(r)
            self.assertEqual(p["sVals"], want["sVals"])
            self.assertEqual(p["logprobs"], want["logprobs"])
            self.assertAlmostEqual(p["eosProb"], want["eosProb"], places=12)

    def test_case_timer_covers_every_group_and_keeps_the_first(self):
        case = self.workload["cases"][0]
        result, kept = bench_hf.time_case(torch, self.tw, self.model, case, self.rvec, 5, 0, check_groups=1,
                                          device="cpu")
        self.assertEqual((result["rollouts"], result["tokens"]), (case["rollouts"], case["tokens"]))
        self.assertGreater(result["seconds"], 0)
        self.assertIsNone(result["peakMemoryBytes"])
        self.assertEqual([k["group"] for k in kept], [0])
        first = case["groups"][0]
        self.assertEqual(kept[0]["rollouts"][3]["sVals"], self.alone(first[3])["sVals"])


@unittest.skipIf(torch is None, "torch is not installed")
class HfCommandTest(unittest.TestCase):
    """`bench_hf.py hf` end to end on the CPU, with a stand-in for the random-init model builder."""

    def test_writes_model_workload_checks_and_results(self):
        built = {}

        def build_model(family, shape, seed):
            built.update(family=family, seed=seed, layers=shape["num_hidden_layers"])
            model = stand_in_model()

            def save_pretrained(path, safe_serialization):
                os.makedirs(path, exist_ok=True)
                with open(os.path.join(path, "config.json"), "w") as f:
                    json.dump(dict(hidden_size=HIDDEN, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1, vocab_size=VOCAB, eos_token_id=7), f)

            model.save_pretrained = save_pretrained
            return model

        fake = types.ModuleType("hf_reference")
        fake.build_model = build_model
        fake.versions = lambda: "stand-in"
        saved = sys.modules.get("hf_reference")
        sys.modules["hf_reference"] = fake
        try:
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "hf.json")
                with contextlib.redirect_stdout(io.StringIO()) as so:
                    rc = bench_hf.main(["hf", "--shape", "Qwen2.5-7B", "--work", d, "--out", out, "--device", "cpu",
                                        "--groups", "2", "--prompt-len", "5", "--completion-min", "2",
                                        "--completion-max", "9", "--long-prompt", "8", "--long-completion", "12"])
                self.assertEqual(rc, 0)
                self.assertEqual(built, {"family": "qwen2", "seed": 4100, "layers": 28})
                self.assertIn("HF Qwen2.5-7B standard:", so.getvalue())
                with open(out) as f:
                    doc = json.load(f)
                with open(os.path.join(d, "workload.json")) as f:
                    wl = json.load(f)
                with open(os.path.join(d, "hf-check.json")) as f:
                    check = json.load(f)
        finally:
            if saved is None:
                del sys.modules["hf_reference"]
            else:
                sys.modules["hf_reference"] = saved
        self.assertEqual((doc["kind"], doc["shape"]), ("hf", "Qwen2.5-7B"))
        self.assertEqual([c["name"] for c in doc["cases"]], ["standard", "long"])
        self.assertEqual([(c["rollouts"], c["tokens"], c["flops"]) for c in doc["cases"]],
                         [(c["rollouts"], c["tokens"], c["flops"]) for c in wl["cases"]])
        self.assertEqual(wl["model"]["vocab"], VOCAB)
        first = wl["cases"][1]["groups"][0]
        self.assertEqual([len(p["sVals"]) for p in check["cases"]["long"][0]["rollouts"]],
                         [len(r["tokens"]) for r in first])
        self.assertEqual(check["randomness"], benchlib.RANDOMNESS)


if __name__ == "__main__":
    unittest.main()
