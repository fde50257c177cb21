#!/usr/bin/env bash
# Prepares a GPU-machine run of scripts/workers/gpu-check.sh (that machine has no node_modules):
# the engine's build inputs (scripts/engine/pack-device.sh; --with-node also packs Node.js), and the
# worker, its debug CLI and the pool checks bundled into apps/worker/.device-bundle. The bundles sit one level below
# apps/worker so the engine finds its addon through apps/worker/build (linked on the device).
# Run from the repository root; then bring "packages/engine-native/.device-bundle",
# "apps/worker/.device-bundle" (and ".device" when packed) to the GPU machine.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
bash scripts/engine/pack-device.sh "$@" >/dev/null
out=apps/worker/.device-bundle
rm -rf "$out" && mkdir -p "$out"
bundle() {
  NODE_PATH="$root/packages/pipeline/node_modules" pnpm exec esbuild "$1" --bundle --platform=node --format=esm \
    --target=node20 --conditions=source --log-level=error --outfile="$2" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
}
bundle apps/worker/src/main.ts "$out/main.mjs"
bundle scripts/workers/gpu-check.ts "$out/gpu-check.mjs"
du -sh "$out"
