#!/usr/bin/env bash
# Prepares what a GPU-machine run of the engine needs and that the machine lacks (it has no node_modules):
# the Node-API headers and the engine driver bundled into one file, in packages/engine-native/.device-bundle
# (git-ignored). With --with-node it also packs this machine's Node.js into .device/ for a GPU machine that
# has none (scripts/device/pack-node.sh). Run from the repository root after `pnpm install`.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[ "${1:-}" = "--with-node" ] && bash scripts/device/pack-node.sh >/dev/null
[ -x node_modules/.bin/esbuild ] || { echo "pack-device: esbuild is not installed; run \`pnpm install\` first" >&2; exit 1; }
out=packages/engine-native/.device-bundle
rm -rf "$out" && mkdir -p "$out/napi" "$out/addon-api"
pkg=packages/engine-native
cp "$(node -e "console.log(require('path').dirname(require.resolve('node-api-headers/package.json', {paths: ['$pkg']})))")"/include/*.h "$out/napi/"
cp "$(node -e "console.log(require('path').dirname(require.resolve('node-addon-api/package.json', {paths: ['$pkg']})))")"/napi*.h "$out/addon-api/"
pnpm exec esbuild scripts/engine/driver.ts --bundle --platform=node --format=esm --target=node20 \
  --conditions=source --log-level=warning --outfile="$out/driver.mjs"
du -sh "$out"
