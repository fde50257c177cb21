#!/usr/bin/env bash
# The proof benchmark of issue engine-perf (docs/performance.md). GPU machine, repository root, after
# `bash scripts/bench/proof/pack-device.sh` here; carry .device, packages/engine-native/.device-bundle and
# scripts/bench/proof/.device-bundle. Builds the engine with CUDA, then for each shape (arguments; default
# Qwen2.5-1.5B Qwen2.5-7B):
#   1. bench_hf.py hf: random-init model of the real shape (all layers, outlier channels), workload.json
#      (prompt 200 + completion 100-700 in 16-rollout groups; the long case prompt 1000 + completion 3000),
#      the bf16 matmul peak, and the HF reference timed on every case (SDPA, batches of 16);
#   2. bench.mjs native: the native engine through the proof pool on the same tokens, then one batch per
#      case profiled per stage (prove with profile on) and checked against HF;
# and writes bench.json and bench.md (the tables) to $OUT, with each side's JSON and bench.log.
# Knobs: BENCH_GROUPS (standard-case groups, 1.5B shapes; default 32), BENCH_GROUPS_7B (default 16),
# BENCH_LONG_GROUPS (default 2), BENCH_HF_DIR (a folder with hf-<shape>.json of an earlier run on the same
# workload: reuse those HF figures instead of timing HF again), BENCH_WORK (default /tmp/proof-bench),
# BENCH_KEEP=1 (keep models, workloads and HF figures in BENCH_WORK), BENCH_REUSE=1 (a later run on the
# same machine: skip straight to the native side with what BENCH_KEEP kept; the fast loop while tuning).
set -uo pipefail
log=bench.log
source scripts/bench/proof/device-env.sh
work=${BENCH_WORK:-/tmp/proof-bench}
shapes=("$@")
[ ${#shapes[@]} -eq 0 ] && shapes=(Qwen2.5-1.5B Qwen2.5-7B)
status=0
results=()
for shape in "${shapes[@]}"; do
  case $shape in
    *7B*) groups=${BENCH_GROUPS_7B:-16} ;;
    *) groups=${BENCH_GROUPS:-32} ;;
  esac
  dir=$work/$shape
  sizes=(--groups "$groups" --long-groups "${BENCH_LONG_GROUPS:-2}")
  hf_json=$out/hf-$shape.json
  if [ "${BENCH_REUSE:-0}" = 1 ] && [ -f "$dir/model/config.json" ] && [ -f "$dir/workload.json" ] \
     && [ -f "$work/hf-$shape.json" ]; then
    stamp "$shape: model, workload and HF figures of an earlier call on this machine"
    cp "$work/hf-$shape.json" "$hf_json"
  elif [ -n "${BENCH_HF_DIR:-}" ] && [ -f "$BENCH_HF_DIR/hf-$shape.json" ]; then
    stamp "$shape: model and workload (HF figures from $BENCH_HF_DIR)"
    python3 $bench/bench_hf.py hf --shape "$shape" --work "$dir" --out "$dir/hf-build.json" --skip-timing "${sizes[@]}" \
      || { status=1; continue; }
    cp "$BENCH_HF_DIR/hf-$shape.json" "$hf_json"
  else
    stamp "$shape: model, workload and the HF reference"
    python3 $bench/bench_hf.py hf --shape "$shape" --work "$dir" --out "$hf_json" "${sizes[@]}" || { status=1; continue; }
  fi
  mkdir -p "$work" && cp "$hf_json" "$work/hf-$shape.json"
  results+=("$hf_json")
  stamp "$shape: native engine through the pool, then the per-stage profile"
  node $bench/.device-bundle/bench.mjs native --shape "$shape" --model "$dir/model" --workload "$dir/workload.json" \
    --hf-check "$dir/hf-check.json" --out "$out/native-$shape.json" || status=1
  [ -f "$out/native-$shape.json" ] && results+=("$out/native-$shape.json")
  [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
done
stamp "report"
[ ${#results[@]} -gt 0 ] && { python3 $bench/bench_hf.py report --out-dir "$out" "${results[@]}" || status=1; }
stamp "done (exit $status)"
exit $status
