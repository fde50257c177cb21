"""Plain-Python parts of the proof benchmark (no torch): workload, FLOPs, argument parsing, report.
Run: python3 -m unittest discover -s scripts/bench/proof/test -p 'test_*.py'"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bench_hf  # noqa: E402
import benchlib  # noqa: E402

# Qwen2.5-7B's config.json fields that the cost depends on.
QWEN7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
              num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False, eos_token_id=151645)
TINY = dict(hidden_size=8, intermediate_size=12, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            vocab_size=50, tie_word_embeddings=True)


class FlopsTest(unittest.TestCase):
    def test_counts_each_term_by_hand(self):
        d = benchlib.model_dims(TINY)
        self.assertEqual((d.head_dim, d.q_dim, d.kv_dim), (4, 8, 4))
        # q/k/v 8*(8+4+4) + o 8*8 + gate/up 2*8*12 + down 12*8 = 128 + 64 + 192 + 96
        self.assertEqual(d.layer_matmul_params(), 480)
        n, p = 5, 2
        gemm = 2 * n * 2 * 480
        attention = 2 * 2 * 8 * n * (n + 1)  # QK and PV over keys 0..i for each query i
        lm_head = 2 * 8 * 50 * (n - p)  # rows prompt-1 .. n-2
        self.assertEqual(benchlib.rollout_flops(d, n, p), gemm + attention + lm_head)

    def test_a_7b_token_costs_what_the_issue_says(self):
        d = benchlib.model_dims(QWEN7B)
        per_token = benchlib.rollout_flops(d, 600, 200) / 600
        # 2 x 6.5e9 decoder weights + attention + lm_head on 2/3 of the rows: about 13.9 GFLOP, a little
        # under the spec's rounder 2 x 7.6e9, which also counts the embedding table and lm_head everywhere.
        self.assertGreater(per_token, 13.5e9)
        self.assertLess(per_token, 14.5e9)

    def test_names_a_missing_config_field(self):
        bad = dict(TINY)
        del bad["intermediate_size"]
        with self.assertRaisesRegex(ValueError, "intermediate_size"):
            benchlib.model_dims(bad)


class WorkloadTest(unittest.TestCase):
    def test_groups_share_a_prompt_and_completions_stay_in_range(self):
        wl = benchlib.make_workload(QWEN7B, benchlib.default_cases(3, 1), seed=5)
        std, long = wl["cases"]
        self.assertEqual((std["name"], std["rollouts"], len(std["groups"])), ("standard", 48, 3))
        completions = []
        for g in std["groups"]:
            self.assertEqual(len(g), benchlib.GROUP_SIZE)
            prompt = g[0]["tokens"][:200]
            for r in g:
                self.assertEqual(r["promptLen"], 200)
                self.assertEqual(r["tokens"][:200], prompt)
                self.assertTrue(all(0 <= t < QWEN7B["vocab_size"] for t in r["tokens"]))
                completions.append(len(r["tokens"]) - 200)
        self.assertTrue(all(100 <= c <= 700 for c in completions))
        self.assertGreater(max(completions) - min(completions), 200)  # uniform, not constant
        self.assertEqual(std["tokens"], sum(len(r["tokens"]) for g in std["groups"] for r in g))
        d = benchlib.model_dims(QWEN7B)
        self.assertEqual(std["flops"], sum(benchlib.rollout_flops(d, len(r["tokens"]), 200)
                                           for g in std["groups"] for r in g))
        self.assertEqual([len(r["tokens"]) for r in long["groups"][0]], [4000] * 16)
        self.assertEqual(wl["model"]["headDim"], 128)
        self.assertEqual(benchlib.make_workload(QWEN7B, benchlib.default_cases(3, 1), seed=5), wl)
        self.assertNotEqual(benchlib.make_workload(QWEN7B, benchlib.default_cases(3, 1), seed=6), wl)

    def test_refuses_empty_cases(self):
        with self.assertRaisesRegex(ValueError, "groups must be at least 1"):
            benchlib.make_workload(TINY, [benchlib.CaseSpec("standard", 0, 5, 1, 2)], 1)
        with self.assertRaisesRegex(ValueError, "completion min"):
            benchlib.make_workload(TINY, [benchlib.CaseSpec("standard", 1, 5, 0, 2)], 1)


class ArgumentsTest(unittest.TestCase):
    def parse_fails(self, argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as cm:
            bench_hf.build_parser().parse_args(argv)
        self.assertEqual(cm.exception.code, 2)
        return err.getvalue()

    def test_defaults_are_the_issue_sizes(self):
        a = bench_hf.build_parser().parse_args(["hf", "--shape", "Qwen2.5-7B", "--work", "w", "--out", "o"])
        cases = bench_hf.cases_of(a)
        self.assertEqual([(c.name, c.prompt_len, c.completion_min, c.completion_max) for c in cases],
                         [("standard", 200, 100, 700), ("long", 1000, 3000, 3000)])
        self.assertEqual(a.peak_size, 8192)
        self.assertFalse(a.skip_timing)

    def test_long_case_can_be_left_out(self):
        a = bench_hf.build_parser().parse_args(["workload", "--config", "c", "--out", "o", "--long-groups", "0"])
        self.assertEqual([c.name for c in bench_hf.cases_of(a)], ["standard"])

    def test_bad_values_are_usage_errors(self):
        self.assertIn("--groups must be >= 1", self.parse_fails(["workload", "--config", "c", "--out", "o",
                                                                  "--groups", "0"]))
        self.assertIn("must be an integer", self.parse_fails(["workload", "--config", "c", "--out", "o",
                                                               "--prompt-len", "many"]))
        self.assertIn("required", self.parse_fails(["hf", "--shape", "Qwen2.5-7B"]))
        self.parse_fails([])

    def test_workload_command_writes_a_file_the_native_side_reads(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "config.json")
            with open(cfg, "w") as f:
                json.dump(TINY, f)
            out = os.path.join(d, "w.json")
            with contextlib.redirect_stdout(io.StringIO()) as so:
                rc = bench_hf.main(["workload", "--config", cfg, "--out", out, "--groups", "2", "--prompt-len", "3",
                                    "--completion-min", "2", "--completion-max", "4", "--long-groups", "0"])
            self.assertEqual(rc, 0)
            self.assertIn("workload standard: 32 rollouts", so.getvalue())
            with open(out) as f:
                wl = json.load(f)
            self.assertEqual(wl["randomness"], benchlib.RANDOMNESS)
            with contextlib.redirect_stderr(io.StringIO()) as se:
                rc = bench_hf.main(["workload", "--config", os.path.join(d, "missing.json"), "--out", out])
            self.assertEqual(rc, 2)
            self.assertIn("missing.json", se.getvalue())


def case(name, rollouts, tokens, flops, seconds, mem=None):
    return {"name": name, "rollouts": rollouts, "tokens": tokens, "flops": flops, "seconds": seconds,
            "peakMemoryBytes": mem}


def profile():
    stages = [{"name": "gemm_gate_up", "ms": 40.0, "percent": 40.0, "calls": 28, "flops": 4e13, "bytes": 1e11,
               "tflops": 1000.0, "gbps": 2500.0},
              {"name": "attention", "ms": 50.0, "percent": 50.0, "calls": 28, "flops": 5e12, "bytes": 1e10,
               "tflops": 100.0, "gbps": 200.0},
              {"name": "unattributed", "ms": 10.0, "percent": 10.0, "calls": 0, "flops": 0, "bytes": 0,
               "tflops": None, "gbps": None}]
    return {"sequences": 16, "tokens": 9600, "logitRows": 6400, "maxLen": 900, "gpuMs": 100.0, "wallMs": 104.0,
            "memory": {}, "stages": stages}


class ReportTest(unittest.TestCase):
    def write(self, d, name, doc):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            json.dump(doc, f)
        return p

    def test_joins_both_engines_with_ratio_target_and_rates(self):
        with tempfile.TemporaryDirectory() as d:
            hf = self.write(d, "hf.json", {"kind": "hf", "shape": "Qwen2.5-7B", "peakTflops": 800.0,
                                           "cases": [case("standard", 256, 153600, 2.0e15, 8.0, 60e9),
                                                     case("long", 16, 64000, 1.0e15, 4.0, 70e9)]})
            nat = self.write(d, "n.json", {
                "kind": "native", "shape": "Qwen2.5-7B",
                "cases": [case("standard", 256, 153600, 2.0e15, 4.0, 30e9), case("long", 16, 64000, 1.0e15, 3.5)],
                "profiles": {"standard": profile(), "long": None},
                "direct": [{"case": "standard", "rolloutsPerCall": 64, "rollouts": 128, "tokens": 76800,
                            "seconds": 1.6, "rolloutsPerSecond": 80.0, "tokensPerSecond": 48000.0,
                            "vsSixteen": {"identicalFraction": 0.985, "sketchMax": 310}}],
                "checks": {"standard": {"profilerUnchanged": True, "poolMatchesDirect": False,
                                        "vsHf": {"sketchMax": 512, "overTolerance": 0, "medianLogprobDev": 0.01}}}})
            report = benchlib.build_report([nat, hf])
        std, long = report["rows"]
        self.assertEqual((std["case"], long["case"]), ("standard", "long"))
        self.assertAlmostEqual(std["ratio"], 2.0)
        self.assertEqual((std["target"], std["met"]), (1.6, True))
        self.assertAlmostEqual(std["hf"]["tflops"], 250.0)
        self.assertAlmostEqual(std["native"]["peakFraction"], 500.0 / 800.0)
        self.assertAlmostEqual(long["ratio"], 4.0 / 3.5)
        self.assertEqual((long["target"], long["met"]), (1.3, False))
        md = benchlib.render_markdown(report)
        self.assertIn("bf16 peak (8192³ torch matmul, same run): 800.0 TFLOP/s", md)
        self.assertIn("| Qwen2.5-7B | standard | 256 | 600 | 32.0 | 19,200 | 250 (31%) | 64.0 | 38,400 | 500 (62%) "
                      "| 2.00× | ≥ 1.6× met | 55.9 GiB | 27.9 GiB |", md)
        self.assertIn("| 1.14× | ≥ 1.3× not met |", md)
        # Stages by time, the largest first.
        self.assertLess(md.index("| attention | 50.00"), md.index("| gemm_gate_up | 40.00"))
        self.assertIn("| unattributed | 10.00 | 10.0% | 0 | — | — |", md)
        self.assertIn("| Qwen2.5-7B | standard | yes | — | NO | 512 | 0 | 0.0100 |", md)
        self.assertAlmostEqual(report["direct"][0]["vsPool"], 80.0 / 64.0)
        self.assertIn("| Qwen2.5-7B | standard | 64 | 128 | 80.0 | 48,000 | 1.25× | 98.5% identical, sketch max 310 |",
                      md)

    def test_native_alone_and_mismatched_workloads(self):
        with tempfile.TemporaryDirectory() as d:
            nat = self.write(d, "n.json", {"kind": "native", "shape": "tiny", "cases": [case("standard", 48, 2000,
                                                                                            1e9, 0.1)]})
            report = benchlib.build_report([nat])
            self.assertIsNone(report["rows"][0]["ratio"])
            self.assertIn("bf16 peak: not measured", benchlib.render_markdown(report))
            hf = self.write(d, "hf.json", {"kind": "hf", "shape": "tiny", "cases": [case("standard", 48, 2001, 1e9, 1)]})
            with self.assertRaisesRegex(ValueError, "different workloads"):
                benchlib.build_report([nat, hf])
            other = self.write(d, "x.json", {"kind": "other"})
            with self.assertRaisesRegex(ValueError, "expected 'hf' or 'native'"):
                benchlib.build_report([other])

    def test_report_command_writes_json_and_markdown(self):
        with tempfile.TemporaryDirectory() as d:
            nat = self.write(d, "n.json", {"kind": "native", "shape": "tiny", "cases": [case("standard", 48, 2000,
                                                                                            1e9, 0.1)]})
            with contextlib.redirect_stdout(io.StringIO()) as so:
                self.assertEqual(bench_hf.main(["report", "--out-dir", os.path.join(d, "out"), nat]), 0)
            self.assertIn("| tiny | standard | 48 |", so.getvalue())
            with open(os.path.join(d, "out", "bench.json")) as f:
                self.assertEqual(json.load(f)["rows"][0]["native"]["rolloutsPerSecond"], 480.0)
            with open(os.path.join(d, "out", "bench.md")) as f:
                self.assertEqual(f.read(), so.getvalue())


if __name__ == "__main__":
    unittest.main()
