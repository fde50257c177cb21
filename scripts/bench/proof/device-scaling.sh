#!/usr/bin/env bash
# Proof-pool scaling over the GPUs of one machine (issue multigpu; docs/performance.md). GPU machine,
# repository root, after `bash scripts/bench/proof/pack-device.sh` here; carry .device,
# packages/engine-native/.device-bundle and scripts/bench/proof/.device-bundle. Builds the engine, then
# the random-init model and the standard workload of the shape (argument; default Qwen2.5-7B; HF is not
# timed), then proves the same groups with the pool at 1, 2, 4, … workers, one per GPU, up to the GPUs
# present: rollouts/s, scaling, coordinator CPU and the proof ceiling per window. Writes scaling.md,
# scaling-<shape>.json and scaling.log to $OUT.
# Knobs: SCALING_GROUPS (16-rollout groups; default 32), SCALING_REPEAT (proofs of each group in one
# timed run; default 3), BENCH_WORK (default /tmp/proof-bench).
set -uo pipefail
log=scaling.log
source scripts/bench/proof/device-env.sh
shape=${1:-Qwen2.5-7B}
gpus=$(nvidia-smi -L | grep -c '^GPU')
counts=1
for k in 2 4 8 16; do [ "$k" -le "$gpus" ] && counts="$counts,$k"; done
case ",$counts," in *",$gpus,"*) ;; *) counts="$counts,$gpus" ;; esac
dir=${BENCH_WORK:-/tmp/proof-bench}/$shape
stamp "$shape: model and workload ($gpus GPUs: workers $counts)"
python3 $bench/bench_hf.py hf --shape "$shape" --work "$dir" --out "$dir/hf-build.json" --skip-timing \
  --groups "${SCALING_GROUPS:-32}" --long-groups 0 --check-groups 0 || exit 1
stamp "$shape: the pool at $counts workers"
node $bench/.device-bundle/bench.mjs scaling --shape "$shape" --model "$dir/model" --workload "$dir/workload.json" \
  --workers "$counts" --repeat "${SCALING_REPEAT:-3}" --out "$out/scaling-$shape.json" > "$out/scaling.md"
status=$?
cat "$out/scaling.md"
nvidia-smi --query-gpu=index,name,clocks.sm,power.draw --format=csv,noheader
stamp "done (exit $status)"
exit $status
