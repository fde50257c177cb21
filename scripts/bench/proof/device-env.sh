# Sourced by the GPU-machine scripts of this folder (device-bench.sh, device-scaling.sh) after they set
# $log (the log file's name): output tee'd to $OUT/$log, stamp() for elapsed-time lines, Node.js from
# .device, the Node-API headers from the engine's bundle, the engine built with CUDA (fails the script
# when the CUDA backend did not build), and the bundles' link to the addon. Sets $out and $bench.
out=${OUT:-/tmp/out}
mkdir -p "$out"
exec > >(tee "$out/${log:?set log to the log file name before sourcing device-env.sh}") 2>&1
start=$SECONDS
stamp() { echo "== [$(( SECONDS - start )) s] $*"; }
source scripts/device/tools.sh
bundle=$PWD/packages/engine-native/.device-bundle
export GRAIL_NODE_API_HEADERS=$bundle/napi GRAIL_NODE_ADDON_API=$bundle/addon-api
export GRAIL_ENGINE_CUDA=1 GRAIL_ENGINE_CUDA_ARCHS=${GRAIL_ENGINE_CUDA_ARCHS:-90}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
stamp "build the engine (CUDA sm_${GRAIL_ENGINE_CUDA_ARCHS})"
(cd packages/engine-native && node scripts/build-native.mjs 2>&1 | grep -Ev '^\[|^--') || exit 1
grep -q '"built": true' <(python3 -c "import json; print(json.dumps(json.load(open('packages/engine-native/build/Release/engine-build.json'))['cuda'], indent=1))") \
  || { cat packages/engine-native/build/Release/engine-build.json; echo "the CUDA backend did not build"; exit 1; }
bench=scripts/bench/proof
# The bundles find the addon relative to themselves: scripts/bench/proof/build/Release.
ln -sfn ../../../packages/engine-native/build "$bench/build"
