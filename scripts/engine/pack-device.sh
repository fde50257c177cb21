#!/usr/bin/env bash
# Prepares what a GPU-machine run of the engine needs and that the machine lacks (it has no node_modules):
# Node.js (shared/device/pack.sh), the Node-API headers, and the engine driver bundled into one file.
# Run from the repository root; then carry ".device" and "packages/engine-native/.device-bundle".
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
bash ../shared/device/pack.sh >/dev/null
out=packages/engine-native/.device-bundle
grep -qxF "/$out/" .git/info/exclude 2>/dev/null || echo "/$out/" >> .git/info/exclude
rm -rf "$out" && mkdir -p "$out/napi" "$out/addon-api"
pkg=packages/engine-native
cp "$(node -e "console.log(require('path').dirname(require.resolve('node-api-headers/package.json', {paths: ['$pkg']})))")"/include/*.h "$out/napi/"
cp "$(node -e "console.log(require('path').dirname(require.resolve('node-addon-api/package.json', {paths: ['$pkg']})))")"/napi*.h "$out/addon-api/"
npx esbuild scripts/engine/driver.ts --bundle --platform=node --format=esm --target=node20 \
  --conditions=source --log-level=warning --outfile="$out/driver.mjs"
du -sh "$out" .device
