#!/usr/bin/env bash
# Prepares a GPU-machine run of scripts/bench/proof/device-bench.sh, device-scaling.sh or
# device-colocation.sh (that machine has no node_modules):
# the engine's build inputs (scripts/engine/pack-device.sh; --with-node also packs Node.js), then the
# benchmark and the proof worker it starts, each bundled into one file under
# scripts/bench/proof/.device-bundle (git-ignored). Run from the repository root; then bring
# "packages/engine-native/.device-bundle", "scripts/bench/proof/.device-bundle" (and ".device" when
# packed) to the GPU machine.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
bash scripts/engine/pack-device.sh "$@" >/dev/null
out=scripts/bench/proof/.device-bundle
rm -rf "$out" && mkdir -p "$out"
bundle() {
  NODE_PATH="$root/packages/pipeline/node_modules" pnpm exec esbuild "$1" --bundle --platform=node --format=esm \
    --target=node20 --conditions=source --log-level=error --outfile="$2" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
}
bundle scripts/bench/proof/bench.ts "$out/bench.mjs"
bundle packages/proof-worker/src/main.ts "$out/worker.mjs"
du -sh "$out" packages/engine-native/.device-bundle
