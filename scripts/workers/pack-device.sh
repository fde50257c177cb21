#!/usr/bin/env bash
# Prepares a GPU-machine run of scripts/workers/gpu-check.sh (that machine has no node_modules):
# Node.js and the engine's build inputs (scripts/engine/pack-device.sh), and the worker, its debug
# CLI and the pool checks bundled into apps/worker/.device-bundle. The bundles sit one level below
# apps/worker so the engine finds its addon through apps/worker/build (linked on the device).
# Run from the repository root; then carry ".device", "packages/engine-native/.device-bundle" and
# "apps/worker/.device-bundle".
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[ -d packages/engine-native/.device-bundle/napi ] && [ -s .device/node.xz ] || bash scripts/engine/pack-device.sh >/dev/null
out=apps/worker/.device-bundle
grep -qxF "/$out/" .git/info/exclude 2>/dev/null || echo "/$out/" >> .git/info/exclude
rm -rf "$out" && mkdir -p "$out"
bundle() {
  NODE_PATH="$root/packages/pipeline/node_modules" npx esbuild "$1" --bundle --platform=node --format=esm \
    --target=node20 --conditions=source --log-level=error --outfile="$2" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
}
bundle apps/worker/src/main.ts "$out/main.mjs"
bundle scripts/workers/gpu-check.ts "$out/gpu-check.mjs"
du -sh "$out"
