#!/usr/bin/env bash
# GPU machine, repository root (after scripts/engine/pack-device.sh; carry .device and
# packages/engine-native/.device-bundle): builds the addon with CUDA (sm_90 only, to save time), reruns the
# kernel tests, checks the CUDA backend against the committed HF goldens and the CPU backend, checks reload()
# in place on the CUDA backend, and runs accuracy.py. Shapes may be given as arguments.
set -uo pipefail
source scripts/device/tools.sh
bundle=$PWD/packages/engine-native/.device-bundle
export GRAIL_NODE_API_HEADERS=$bundle/napi GRAIL_NODE_ADDON_API=$bundle/addon-api
export GRAIL_ENGINE_CUDA=1 GRAIL_ENGINE_KERNEL_TEST=1 GRAIL_ENGINE_CUDA_ARCHS=90 PYTHONUNBUFFERED=1
out=${OUT:-/tmp/out}
mkdir -p "$out"
(cd packages/engine-native && node scripts/build-native.mjs 2>&1 | grep -Ev '^\[|^--') || exit 1
packages/engine-native/build/Release/cuda_kernel_test
node "$bundle/driver.mjs" check-goldens packages/engine-native/test/fixtures cuda "$out/golden-report.json"
node "$bundle/driver.mjs" check-reload cuda /tmp/reload-check
python3 scripts/engine/accuracy.py "$bundle/driver.mjs" "$out" "$@"
