#!/usr/bin/env bash
# What a proof worker needs to share a GPU with generation (issue 22; docs/performance.md). GPU machine,
# repository root, after `bash scripts/bench/proof/pack-device.sh` here; carry .device,
# packages/engine-native/.device-bundle and scripts/bench/proof/.device-bundle. Builds the engine, then the
# random-init model of the shape (argument; default Qwen2.5-7B) and its standard workload (HF is not
# timed), then in one process (bench.ts colocation):
#   1. the engine's reported memory need (proofMemoryNeed) for its largest batch, one group of 16 rollouts
#      of COLOCATION_TOKENS tokens, next to what the GPU shows while the model loads and that batch proves:
#      nvidia-smi --query-gpu=memory.used sampled every 100 ms (over the idle device), the engine's own
#      buffers and cudaMemGetInfo from its profile; exits 1 when the engine's buffers differ from the need;
#   2. proof rollouts/s (the engine alone, one group a call) alone and while a python3 + torch process
#      (gemm_load.py) keeps the same GPU busy with 8192² bf16 GEMMs, the contention factor, and the GEMM
#      time lost per proof GPU-second.
# Writes colocation-<shape>.md (also printed), colocation-<shape>.json and colocation.log to $OUT. About
# 4–6 minutes on one H100 (CUDA build 1–2, model build and save 1–2, the measurements about 2).
# Knobs: COLOCATION_TOKENS (default 4096), COLOCATION_PROMPT (default: what the longest completion the
# protocol allows leaves, 1 token at 4096), COLOCATION_PASSES (proofs of the 16 standard groups per timed
# run; default 3), COLOCATION_GEMM_SECONDS (the GEMM load alone before the proofs join; default 8),
# BENCH_WORK (default /tmp/proof-bench).
set -uo pipefail
log=colocation.log
source scripts/bench/proof/device-env.sh
shape=${1:-Qwen2.5-7B}
dir=${BENCH_WORK:-/tmp/proof-bench}/$shape
nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv,noheader
stamp "$shape: model and workload"
python3 $bench/bench_hf.py hf --shape "$shape" --work "$dir" --out "$dir/hf-build.json" --skip-timing \
  --groups 16 --long-groups 0 --check-groups 0 || exit 1
stamp "$shape: memory need against the GPU, then proofs alone and beside the GEMM load"
args=(--tokens "${COLOCATION_TOKENS:-4096}" --passes "${COLOCATION_PASSES:-3}"
  --gemm-seconds "${COLOCATION_GEMM_SECONDS:-8}")
[ -n "${COLOCATION_PROMPT:-}" ] && args+=(--prompt "$COLOCATION_PROMPT")
node $bench/.device-bundle/bench.mjs colocation --shape "$shape" --model "$dir/model" \
  --workload "$dir/workload.json" "${args[@]}" --out "$out/colocation-$shape.json"
status=$?
nvidia-smi --query-gpu=index,name,clocks.sm,power.draw --format=csv,noheader
stamp "done (exit $status)"
exit $status
