"""The proof benchmark's plain logic, importable without torch: the workload (rollouts of the issue's
sizes, in 16-rollout groups), the FLOPs a proof needs, and the report (JSON and markdown tables) that
puts the HF reference and the native engine side by side. bench_hf.py adds the torch parts."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

GROUP_SIZE = 16
RANDOMNESS = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

# Done-when ratios of issue 4 (native rollouts/s over HF rollouts/s on the same tokens).
TARGETS = {("Qwen2.5-1.5B", "standard"): 2.0, ("Qwen2.5-7B", "standard"): 1.6}
LONG_TARGET = 1.3


@dataclass(frozen=True)
class CaseSpec:
    """groups of GROUP_SIZE rollouts: one shared prompt per group, completions uniform in [min, max]."""

    name: str
    groups: int
    prompt_len: int
    completion_min: int
    completion_max: int

    def check(self) -> None:
        if self.groups < 1:
            raise ValueError(f"{self.name}: groups must be at least 1, got {self.groups}")
        if self.prompt_len < 1:
            raise ValueError(f"{self.name}: the prompt needs at least 1 token, got {self.prompt_len}")
        if not 1 <= self.completion_min <= self.completion_max:
            raise ValueError(f"{self.name}: need 1 <= completion min ({self.completion_min}) <= max "
                             f"({self.completion_max})")


def default_cases(standard_groups: int, long_groups: int) -> list[CaseSpec]:
    """The issue's two cases: prompt 200 + completion 100-700 (about 600 tokens a rollout), and the
    long case prompt 1000 + completion 3000."""
    return [CaseSpec("standard", standard_groups, 200, 100, 700), CaseSpec("long", long_groups, 1000, 3000, 3000)]


@dataclass(frozen=True)
class ModelDims:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def layer_matmul_params(self) -> int:
        """Weights of one decoder layer's GEMMs: q/k/v, o, gate/up, down."""
        H, I = self.hidden, self.intermediate
        return H * (self.q_dim + 2 * self.kv_dim) + self.q_dim * H + 2 * H * I + I * H

    def to_json(self) -> dict:
        return {"hidden": self.hidden, "intermediate": self.intermediate, "layers": self.layers,
                "heads": self.heads, "kvHeads": self.kv_heads, "headDim": self.head_dim, "vocab": self.vocab,
                "tied": self.tied}


def model_dims(config: dict) -> ModelDims:
    """The shapes a proof's cost depends on, from an HF config.json."""
    try:
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        return ModelDims(
            hidden=hidden,
            intermediate=int(config["intermediate_size"]),
            layers=int(config["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            vocab=int(config["vocab_size"]),
            tied=bool(config.get("tie_word_embeddings", False)),
        )
    except KeyError as e:
        raise ValueError(f"config.json lacks {e.args[0]}; is this an HF causal-LM config?") from None


def rollout_flops(d: ModelDims, length: int, prompt_len: int) -> int:
    """Multiply-add FLOPs (x2) one proof needs: every decoder GEMM on every position, causal attention
    (QK and PV over the keys at or before each query), and lm_head on the rows whose logits the proof
    reads (positions prompt_len-1 .. length-2). Norms, RoPE and the reductions are left out (memory-bound,
    a few per mille of the total). HF computes lm_head on every position and pays for padding; that is
    its waste, not useful work, so it is not counted."""
    n = length
    gemm = 2 * n * d.layers * d.layer_matmul_params()
    attention = 2 * d.layers * d.q_dim * n * (n + 1)
    lm_head = 2 * d.hidden * d.vocab * (length - prompt_len)
    return gemm + attention + lm_head


def make_workload(config: dict, cases: list[CaseSpec], seed: int) -> dict:
    """Random-token rollouts (throughput does not depend on the values) for each case, with the FLOPs
    and token counts the report divides by."""
    d = model_dims(config)
    rng = random.Random(seed)
    out = []
    for case in cases:
        case.check()
        groups = []
        flops = tokens = 0
        for _ in range(case.groups):
            prompt = [rng.randrange(d.vocab) for _ in range(case.prompt_len)]
            group = []
            for _ in range(GROUP_SIZE):
                c = rng.randint(case.completion_min, case.completion_max)
                toks = prompt + [rng.randrange(d.vocab) for _ in range(c)]
                group.append({"tokens": toks, "promptLen": case.prompt_len})
                tokens += len(toks)
                flops += rollout_flops(d, len(toks), case.prompt_len)
            groups.append(group)
        out.append({"name": case.name, "promptLen": case.prompt_len,
                    "completion": [case.completion_min, case.completion_max], "rollouts": case.groups * GROUP_SIZE,
                    "tokens": tokens, "flops": flops, "groups": groups})
    return {"version": 1, "seed": seed, "randomness": RANDOMNESS, "groupSize": GROUP_SIZE, "model": d.to_json(),
            "eosTokenId": config.get("eos_token_id"), "cases": out}


# ----------------------------------------------------------------------------------------------------
# Report


def _fmt_rate(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _fmt_bytes(b: float | None) -> str:
    return "—" if b is None else f"{b / 2**30:.1f} GiB"


def target_for(shape: str, case: str) -> float | None:
    if case == "long":
        return LONG_TARGET
    return TARGETS.get((shape, case))


def _load(paths: list[str]) -> tuple[dict, dict]:
    hf, native = {}, {}
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        kind = doc.get("kind")
        if kind == "hf":
            hf[doc["shape"]] = doc
        elif kind == "native":
            native[doc["shape"]] = doc
        else:
            raise ValueError(f"{p}: kind is {kind!r}, expected 'hf' or 'native'")
    return hf, native


def build_report(paths: list[str]) -> dict:
    """Joins HF and native results per shape and case: rates, effective TFLOP/s against the measured
    bf16 peak, peak device memory, the ratio and the issue's target."""
    hf, native = _load(paths)
    peaks = [h["peakTflops"] for h in hf.values() if h.get("peakTflops")]
    peak = max(peaks) if peaks else None
    rows = []
    for shape in sorted(set(hf) | set(native), key=lambda s: (s not in native, s)):
        h_cases = {c["name"]: c for c in hf.get(shape, {}).get("cases", [])}
        n_cases = {c["name"]: c for c in native.get(shape, {}).get("cases", [])}
        for name in sorted(set(h_cases) | set(n_cases), key=lambda n: (n != "standard", n)):
            h, n = h_cases.get(name), n_cases.get(name)
            ref = h or n
            row = {"shape": shape, "case": name, "rollouts": ref["rollouts"], "tokens": ref["tokens"],
                   "tokensPerRollout": ref["tokens"] / ref["rollouts"], "flops": ref["flops"]}
            for who, c in (("hf", h), ("native", n)):
                if c is None:
                    row[who] = None
                    continue
                tflops = c["flops"] / c["seconds"] / 1e12
                row[who] = {"rolloutsPerSecond": c["rollouts"] / c["seconds"],
                            "tokensPerSecond": c["tokens"] / c["seconds"], "seconds": c["seconds"],
                            "tflops": tflops, "peakFraction": tflops / peak if peak else None,
                            "peakMemoryBytes": c.get("peakMemoryBytes")}
            if h and n and (h["tokens"] != n["tokens"] or h["rollouts"] != n["rollouts"]):
                raise ValueError(f"{shape} {name}: HF and native ran different workloads "
                                 f"({h['tokens']} vs {n['tokens']} tokens); rerun both on one workload.json")
            ratio = (row["native"]["rolloutsPerSecond"] / row["hf"]["rolloutsPerSecond"]
                     if row["hf"] and row["native"] else None)
            target = target_for(shape, name)
            row.update(ratio=ratio, target=target,
                       met=None if ratio is None or target is None else ratio >= target)
            rows.append(row)
    direct = []
    for s, doc in native.items():
        pool = next((r for r in rows if r["shape"] == s and r["native"]), None)
        for d in doc.get("direct", []):
            same = pool if pool and pool["case"] == d["case"] else None
            direct.append({"shape": s, **d, "vsPool": d["rolloutsPerSecond"] / same["native"]["rolloutsPerSecond"]
                           if same else None})
    breakdowns = {s: doc.get("profiles", {}) for s, doc in native.items()}
    checks = {s: doc.get("checks", {}) for s, doc in native.items()}
    env = {"hf": {s: doc.get("env") for s, doc in hf.items()}, "native": {s: doc.get("env") for s, doc in native.items()}}
    return {"peakTflops": peak, "rows": rows, "direct": direct, "breakdowns": breakdowns, "checks": checks,
            "env": env}


def render_markdown(report: dict) -> str:
    peak = report["peakTflops"]
    lines = []
    lines.append(f"bf16 peak (8192³ torch matmul, same run): {_fmt_rate(peak)} TFLOP/s" if peak
                 else "bf16 peak: not measured (no HF run in this report)")
    lines.append("")
    lines.append("| shape | case | rollouts | tokens/rollout | HF rollouts/s | HF tokens/s | HF TFLOP/s (% peak) | "
                 "native rollouts/s | native tokens/s | native TFLOP/s (% peak) | native/HF | target | "
                 "HF peak memory | native peak memory |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        cells = [r["shape"], r["case"], str(r["rollouts"]), f"{r['tokensPerRollout']:.0f}"]
        for who in ("hf", "native"):
            c = r[who]
            if c is None:
                cells += ["—", "—", "—"]
                continue
            pct = f" ({100 * c['peakFraction']:.0f}%)" if c["peakFraction"] is not None else ""
            cells += [_fmt_rate(c["rolloutsPerSecond"]), _fmt_rate(c["tokensPerSecond"], 0),
                      f"{c['tflops']:.3g}{pct}"]
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        target = "—" if r["target"] is None else f"≥ {r['target']:.1f}×" + (
            "" if r["met"] is None else (" met" if r["met"] else " not met"))
        cells += [ratio, target, _fmt_bytes((r["hf"] or {}).get("peakMemoryBytes")),
                  _fmt_bytes((r["native"] or {}).get("peakMemoryBytes"))]
        lines.append("| " + " | ".join(cells) + " |")
    if report.get("direct"):
        lines.append("")
        lines.append("The engine alone, in the benchmark process (no pool, IPC, hashing or signing), on the first "
                     "groups of the case:")
        lines.append("")
        lines.append("| shape | case | rollouts per engine call | rollouts | rollouts/s | tokens/s | vs the pool | "
                     "first group vs proved alone |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for d in report["direct"]:
            vs = "—" if d["vsPool"] is None else f"{d['vsPool']:.2f}×"
            same = d.get("vsSixteen")
            moved = "—" if not same else (f"{100 * same['identicalFraction']:.1f}% identical, sketch max "
                                          f"{same['sketchMax']}")
            per_call = str(d["rolloutsPerCall"]) + ("" if d.get("sharedPrompts", True) else
                                                    ", each rollout's prompt computed")
            lines.append(f"| {d['shape']} | {d['case']} | {per_call} | {d['rollouts']} | "
                         f"{_fmt_rate(d['rolloutsPerSecond'])} | {_fmt_rate(d['tokensPerSecond'], 0)} | {vs} | "
                         f"{moved} |")
    for shape, profiles in report["breakdowns"].items():
        for case, prof in profiles.items():
            if not prof:
                continue
            lines.append("")
            lines.append(f"Per-stage GPU time of one {case} batch, {shape} ({prof['sequences']} rollouts, "
                         f"{prof['tokens']} tokens, {prof['logitRows']} logit rows; GPU span {prof['gpuMs']:.1f} ms, "
                         f"host wall {prof['wallMs']:.1f} ms):")
            lines.append("")
            lines.append("| stage | ms | % of GPU span | calls | TFLOP/s | GB/s |")
            lines.append("|---|---|---|---|---|---|")
            for st in sorted(prof["stages"], key=lambda s: -s["ms"]):
                tf = "—" if not st.get("tflops") else f"{st['tflops']:.1f}"
                gb = "—" if not st.get("gbps") else f"{st['gbps']:,.0f}"
                lines.append(f"| {st['name']} | {st['ms']:.2f} | {st['percent']:.1f}% | {st['calls']} | {tf} | {gb} |")
    check_rows = [(s, case, c) for s, checks in report["checks"].items() for case, c in checks.items()]
    if check_rows:
        yes = {True: "yes", False: "NO"}
        lines.append("")
        lines.append("Checks on the first group of each case (random tokens, so the HF comparison is a sanity check; "
                     "the accuracy gate is scripts/engine/device-accuracy.sh):")
        lines.append("")
        lines.append("| shape | case | profiler changes nothing | prompt sharing changes nothing | pool = in-process | "
                     "vs HF sketch max | over tolerance | median exp(\\|Δlp\\|)−1 |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for s, case, c in check_rows:
            hf = c.get("vsHf")
            shared = "—" if "sharingUnchanged" not in c else yes[bool(c["sharingUnchanged"])]
            cells = [s, case, yes[bool(c["profilerUnchanged"])], shared, yes[bool(c["poolMatchesDirect"])]]
            cells += ([str(hf["sketchMax"]), str(hf["overTolerance"]), f"{hf['medianLogprobDev']:.4f}"] if hf
                      else ["—", "—", "—"])
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

