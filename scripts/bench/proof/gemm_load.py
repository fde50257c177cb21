"""A GPU kept busy with bf16 GEMMs, as a generation server keeps it, for the co-location benchmark
(colocation.ts): n x n matmuls back to back on one device until stopped (SIGTERM) or --seconds pass.

Prints "ready" once warm, then one line per chunk of matmuls, timed against the wall clock so the caller
can take the rate over any span of its own:

    gemm <end: unix seconds> <seconds> <flops>

--device cpu runs the same loop in fp32 with numpy (no torch needed): a dry run of the caller's path on a
machine without a GPU, not a measurement."""

from __future__ import annotations

import argparse
import sys
import time


def build(device: str, n: int):
    if device == "cpu":
        import numpy as np

        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out = np.empty((n, n), dtype=np.float32)
        return (lambda: np.matmul(a, b, out=out)), (lambda: None)
    import torch

    torch.manual_seed(0)
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    out = torch.empty(n, n, dtype=torch.bfloat16, device="cuda")
    return (lambda: torch.matmul(a, b, out=out)), torch.cuda.synchronize


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gemm_load.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=8192, help="n of the n x n matmuls")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--chunk-seconds", type=float, default=0.1, help="about how long one reported chunk runs")
    p.add_argument("--seconds", type=float, default=900.0, help="stop after this long whatever happens")
    args = p.parse_args(argv)
    if args.size < 1 or args.chunk_seconds <= 0 or args.seconds <= 0:
        p.error("--size, --chunk-seconds and --seconds must be positive")
    step, sync = build(args.device, args.size)
    flops = 2.0 * args.size**3
    # Warm-up, and how many matmuls make a chunk of about --chunk-seconds.
    for _ in range(3):
        step()
    sync()
    t0 = time.time()
    step()
    sync()
    per_chunk = max(1, int(args.chunk_seconds / max(time.time() - t0, 1e-6)))
    print("ready", flush=True)
    stop_at = time.time() + args.seconds
    while time.time() < stop_at:
        start = time.time()
        for _ in range(per_chunk):
            step()
        sync()
        end = time.time()
        print(f"gemm {end:.6f} {end - start:.6f} {per_chunk * flops:.6g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
