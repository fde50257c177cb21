#!/usr/bin/env bash
# GPU machine, repository root (after `bash scripts/workers/pack-device.sh` here; carry .device,
# packages/engine-native/.device-bundle and apps/worker/.device-bundle). Best on nvidia-h200-x2;
# on one GPU the two-GPU steps are skipped. Builds the engine with CUDA, then:
#   1. the torch worker and the native worker prove the same model-sampled batch through the pool
#      (Qwen2.5-1.5B shape, random init with outliers), compared against the validator's bounds;
#   2. pool throughput with one worker vs workers pinned to GPUs 0 and 1 (where each runs);
#   3. `pnpm worker --gpu 1` (the bundled CLI) on the same model, checked against the CPU backend.
# Reports land in $OUT: torch-vs-native.json, scaling.json, worker-gpu.txt, gpu-check.log.
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
source scripts/device/tools.sh
bundle=$PWD/packages/engine-native/.device-bundle
export GRAIL_NODE_API_HEADERS=$bundle/napi GRAIL_NODE_ADDON_API=$bundle/addon-api
export GRAIL_ENGINE_CUDA=1 GRAIL_ENGINE_CUDA_ARCHS=${GRAIL_ENGINE_CUDA_ARCHS:-90} PYTHONUNBUFFERED=1
(cd packages/engine-native && node scripts/build-native.mjs 2>&1 | grep -Ev '^\[|^--') || exit 1
cat packages/engine-native/build/Release/engine-build.json
# The bundles resolve the engine's addon relative to themselves: apps/worker/build/Release.
ln -sfn ../../packages/engine-native/build apps/worker/build
workers=apps/worker/.device-bundle
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
echo "== $gpus GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c | xargs)"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"

work=/tmp/workers-check
mkdir -p "$work"
echo "== model and sampled batch"
python3 scripts/workers/make_batch.py "$work" Qwen2.5-1.5B 3 || exit 1

status=0
echo "== 1. torch worker vs native worker through the pool"
node $workers/gpu-check.mjs torch-vs-native --model "$work/model" --batch "$work/batch.json" \
  --out "$out/torch-vs-native.json" || status=1

echo "== 2. throughput: one worker vs workers on GPUs 0 and 1"
if [ "$gpus" -ge 2 ]; then
  node $workers/gpu-check.mjs scaling --model "$work/model" --gpus 0,1 --groups 96 --out "$out/scaling.json" || status=1
else
  echo "only one GPU: scaling needs nvidia-h200-x2"
  node $workers/gpu-check.mjs scaling --model "$work/model" --gpus 0 --groups 48 --out "$out/scaling.json" || status=1
fi

echo "== 3. pnpm worker --gpu N"
cli_gpu=$(( gpus >= 2 ? 1 : 0 ))
node $workers/main.mjs --gpu $cli_gpu --model "$work/model" --batch "$work/batch.json" --repeat 3 --compare 1 \
  | tee "$out/worker-gpu.txt" || status=1
node $workers/main.mjs --gpu $cli_gpu --model "$work/model" --rollouts 256 --prompt-len 200 --completion-len 700 \
  --repeat 3 --compare 0 | tee -a "$out/worker-gpu.txt" || status=1
exit $status
