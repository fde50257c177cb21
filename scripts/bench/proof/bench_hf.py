"""The proof benchmark's Python side (issue engine-perf). Commands:

  workload --config CONFIG_JSON --out WORKLOAD_JSON [case options]
      rollouts of the issue's sizes for a model config (no torch needed)
  hf --shape NAME --work DIR --out HF_JSON [case options] [--skip-timing]
      GPU machine: builds the random-init model of a real shape (scripts/engine/hf_reference.py, outlier
      channels as in the accuracy run) into DIR/model, writes DIR/workload.json, measures the bf16 matmul
      peak, then times the HF reference path on every case: transformers, SDPA, right-padded batches of
      16 (one group), base model with use_cache=False, last hidden state -> top-16 sketch of every
      position, lm_head -> fp32 log-softmax at the completion positions, results copied to the host
      (the torch worker's own functions). Writes DIR/hf-check.json: the first group's HF proofs per
      case, which the native side compares its own against.
  report --out-dir DIR RESULT_JSON...
      joins hf and native result files into DIR/bench.json and DIR/bench.md and prints the tables

Case options: --groups N (standard case, 16-rollout groups), --prompt-len, --completion-min,
--completion-max, --long-groups M (0 leaves the long case out), --long-prompt, --long-completion, --seed."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
sys.path.insert(0, here)
import benchlib  # noqa: E402


def _positive(name: str, allow_zero: bool = False):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if v < (0 if allow_zero else 1):
            raise argparse.ArgumentTypeError(f"{name} must be {'>= 0' if allow_zero else '>= 1'}, got {v}")
        return v

    return parse


def _case_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--groups", type=_positive("--groups"), default=16, help="16-rollout groups, standard case")
    p.add_argument("--prompt-len", type=_positive("--prompt-len"), default=200)
    p.add_argument("--completion-min", type=_positive("--completion-min"), default=100)
    p.add_argument("--completion-max", type=_positive("--completion-max"), default=700)
    p.add_argument("--long-groups", type=_positive("--long-groups", allow_zero=True), default=2,
                   help="16-rollout groups of the long case; 0 leaves it out")
    p.add_argument("--long-prompt", type=_positive("--long-prompt"), default=1000)
    p.add_argument("--long-completion", type=_positive("--long-completion"), default=3000)
    p.add_argument("--seed", type=int, default=20260401)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_hf.py", description="proof benchmark: workload, HF reference, report")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("workload", help="write the rollouts for a model config")
    w.add_argument("--config", required=True, help="the model's config.json")
    w.add_argument("--out", required=True)
    _case_options(w)
    h = sub.add_parser("hf", help="build a real-shape model and time the HF reference (GPU machine)")
    h.add_argument("--shape", required=True, help="a name of scripts/engine/model_shapes.py")
    h.add_argument("--work", required=True, help="directory for the model, workload.json and hf-check.json")
    h.add_argument("--out", required=True, help="result JSON")
    h.add_argument("--model-seed", type=int, default=4100)
    h.add_argument("--check-groups", type=_positive("--check-groups", allow_zero=True), default=1,
                   help="groups per case whose HF proofs go to hf-check.json")
    h.add_argument("--peak-size", type=_positive("--peak-size"), default=8192, help="n of the n³ peak matmul")
    h.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu runs the same path slowly, without the peak and memory figures (tests)")
    h.add_argument("--skip-timing", action="store_true",
                   help="only build the model and the workload (reuse HF figures of an earlier run)")
    _case_options(h)
    r = sub.add_parser("report", help="join result files into bench.json and bench.md")
    r.add_argument("--out-dir", required=True)
    r.add_argument("results", nargs="+")
    return p


def cases_of(args: argparse.Namespace) -> list[benchlib.CaseSpec]:
    cases = [benchlib.CaseSpec("standard", args.groups, args.prompt_len, args.completion_min, args.completion_max)]
    if args.long_groups > 0:
        cases.append(benchlib.CaseSpec("long", args.long_groups, args.long_prompt, args.long_completion,
                                       args.long_completion))
    for c in cases:
        c.check()
    return cases


def write_json(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f)


def cmd_workload(args: argparse.Namespace) -> int:
    with open(args.config) as f:
        config = json.load(f)
    wl = benchlib.make_workload(config, cases_of(args), args.seed)
    write_json(args.out, wl)
    for c in wl["cases"]:
        print(f"workload {c['name']}: {c['rollouts']} rollouts, {c['tokens']} tokens, {c['flops'] / 1e12:.1f} TFLOP")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    report = benchlib.build_report(args.results)
    md = benchlib.render_markdown(report)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "bench.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out_dir, "bench.md"), "w") as f:
        f.write(md)
    print(md, end="")
    return 0


# ----------------------------------------------------------------------------------------------------
# GPU machine only (torch)


def measure_peak(torch, n: int, warmup: int = 3, reps: int = 10) -> float:
    """bf16 TFLOP/s of an n×n×n torch matmul on random data: the ceiling effective rates are read against."""
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    for _ in range(warmup):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    end.synchronize()
    seconds = start.elapsed_time(end) / 1000 / reps
    del a, b
    return 2 * n**3 / seconds / 1e12


def prove_group(torch, tw, model, rollouts, rvec, eos, pad, device="cuda"):
    """One right-padded batch the reference way; returns host results like the torch worker's."""
    width = max(len(r["tokens"]) for r in rollouts)
    ids = torch.full((len(rollouts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rollouts), width), dtype=torch.long)
    for j, r in enumerate(rollouts):
        ids[j, : len(r["tokens"])] = torch.tensor(r["tokens"], dtype=torch.long)
        mask[j, : len(r["tokens"])] = 1
    ids, mask = ids.to(device), mask.to(device)
    with torch.inference_mode():
        hidden = model.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        logits = model.lm_head(hidden)
        s_vals, logprobs, eos_probs = [], [], []
        for j, r in enumerate(rollouts):
            n, p = len(r["tokens"]), r["promptLen"]
            s_vals.append(tw.sketches(torch, hidden[j, :n], rvec))
            logprobs.append(tw.completion_logprobs(torch, logits[j, :n], ids[j, :n], p))
            eos_probs.append(torch.softmax(logits[j, n - 2].float(), dim=-1)[eos])
        # Copied to the host as the worker does; turned into lists only for the groups kept for checks.
        out = (torch.cat(s_vals).cpu(), logprobs, torch.stack(eos_probs).double().cpu())
    del hidden, logits
    return out


def as_proofs(rollouts, host) -> list[dict]:
    s_vals, logprobs, eos = host
    proofs, at = [], 0
    for r, lp, e in zip(rollouts, logprobs, eos.tolist()):
        n = len(r["tokens"])
        proofs.append({"sVals": s_vals[at : at + n].tolist(), "logprobs": lp.tolist(), "eosProb": e})
        at += n
    return proofs


def time_case(torch, tw, model, case, rvec, eos, pad, check_groups, device="cuda"):
    """Times every group of a case after one warm-up group; keeps the first check_groups' proofs."""
    cuda = device == "cuda"
    groups = case["groups"]
    prove_group(torch, tw, model, groups[0], rvec, eos, pad, device)  # warm-up: kernels, cuBLAS handles, allocator
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    kept = []
    t0 = time.perf_counter()
    for i, g in enumerate(groups):
        host = prove_group(torch, tw, model, g, rvec, eos, pad, device)
        if i < check_groups:
            kept.append((i, g, host))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    result = {"name": case["name"], "rollouts": case["rollouts"], "tokens": case["tokens"], "flops": case["flops"],
              "seconds": seconds, "peakMemoryBytes": torch.cuda.max_memory_allocated() if cuda else None,
              "peakReservedBytes": torch.cuda.max_memory_reserved() if cuda else None}
    return result, [{"group": i, "rollouts": as_proofs(g, host)} for i, g, host in kept]


def cmd_hf(args: argparse.Namespace) -> int:
    import torch

    sys.path.insert(0, os.path.join(root, "scripts", "engine"))
    sys.path.insert(0, os.path.join(root, "packages", "proof-worker", "python"))
    import grail_ipc as ipc
    import hf_reference as hf
    import torch_worker as tw
    from model_shapes import SHAPES

    if args.shape not in SHAPES:
        print(f"unknown shape {args.shape!r}; known: {', '.join(SHAPES)}", file=sys.stderr)
        return 2
    family, shape = SHAPES[args.shape]
    t0 = time.time()
    model = hf.build_model(family, shape, seed=args.model_seed)
    model_dir = os.path.join(args.work, "model")
    model.save_pretrained(model_dir, safe_serialization=True)
    t_model = time.time()
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    wl = benchlib.make_workload(config, cases_of(args), args.seed)
    write_json(os.path.join(args.work, "workload.json"), wl)
    print(f"{args.shape}: model built and saved in {t_model - t0:.0f} s; "
          + ", ".join(f"{c['name']} {c['rollouts']} rollouts / {c['tokens']} tokens" for c in wl["cases"]), flush=True)
    doc = {"kind": "hf", "shape": args.shape, "env": {"versions": hf.versions(), "attention": "sdpa",
                                                       "batch": benchlib.GROUP_SIZE},
           "timing": {"buildAndSaveSeconds": t_model - t0}, "cases": []}
    if not args.skip_timing:
        if args.device == "cuda":
            doc["peakTflops"] = measure_peak(torch, args.peak_size)
            print(f"bf16 peak {doc['peakTflops']:.0f} TFLOP/s ({args.peak_size}³ matmul)", flush=True)
        eos = config.get("eos_token_id", shape["eos_token_id"])
        eos = eos[0] if isinstance(eos, list) else eos
        rvec = torch.tensor(ipc.r_vec(wl["randomness"]), dtype=torch.int64, device=args.device)
        checks = {}
        for case in wl["cases"]:
            result, kept = time_case(torch, tw, model, case, rvec, eos, eos, args.check_groups, args.device)
            doc["cases"].append(result)
            checks[case["name"]] = kept
            peak = result["peakMemoryBytes"]
            print(f"HF {args.shape} {case['name']}: {result['rollouts'] / result['seconds']:.1f} rollouts/s, "
                  f"{result['tokens'] / result['seconds']:,.0f} tokens/s, "
                  f"{case['flops'] / result['seconds'] / 1e12:.0f} TFLOP/s"
                  + ("" if peak is None else f", peak {peak / 2**30:.1f} GiB"), flush=True)
        write_json(os.path.join(args.work, "hf-check.json"), {"randomness": wl["randomness"], "cases": checks})
    doc["timing"]["totalSeconds"] = time.time() - t0
    write_json(args.out, doc)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "workload":
            return cmd_workload(args)
        if args.command == "report":
            return cmd_report(args)
        return cmd_hf(args)
    except (ValueError, OSError) as e:
        print(f"bench_hf.py {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
