#!/usr/bin/env bash
# GPU machine, from the repository root (after scripts/engine/pack-device.sh here; carry .device and
# packages/engine-native/.device-bundle): builds the addon with the CUDA backend, runs the kernel tests,
# builds the tiny models + HF goldens, and checks the CUDA and CPU backends against them.
# Fixtures come back as $OUT/fixtures.tgz (unpack into packages/engine-native/test/fixtures).
set -uo pipefail
source scripts/device/tools.sh
bundle=$PWD/packages/engine-native/.device-bundle
export GRAIL_NODE_API_HEADERS=$bundle/napi GRAIL_NODE_ADDON_API=$bundle/addon-api
export GRAIL_ENGINE_CUDA=1 GRAIL_ENGINE_KERNEL_TEST=1 PYTHONUNBUFFERED=1
out=${OUT:-/tmp/out}
mkdir -p "$out"
(cd packages/engine-native && node scripts/build-native.mjs 2>&1 | grep -Ev '^\[|^--' ) || exit 1
cat packages/engine-native/build/Release/engine-build.json
echo "== kernel tests"
packages/engine-native/build/Release/cuda_kernel_test
echo "== goldens"
fixtures=/tmp/fixtures
python3 scripts/engine/make_goldens.py "$fixtures" || exit 1
tar -C "$fixtures" -czf "$out/fixtures.tgz" .
ls -la "$fixtures"/*
echo "== engine vs goldens"
node "$bundle/driver.mjs" check-goldens "$fixtures" cuda "$out/golden-report.json"
node "$bundle/driver.mjs" check-goldens "$fixtures" cpu
