# Sourced from the repository root by the GPU-machine scripts. Uses Node.js from .device/ (see
# pack-node.sh) when none is on PATH, puts the CUDA toolkit on PATH when it sits in its usual
# place, and stops with a clear message when a tool the scripts need is missing.
if ! command -v node >/dev/null 2>&1 && [ -f .device/boot.sh ]; then
  source .device/boot.sh
fi
if ! command -v nvcc >/dev/null 2>&1 && [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
  export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
fi
device_require() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "$(basename "$0"): '$1' is required on this machine: $2" >&2
  exit 1
}
device_require node "install Node.js >= 20.19, or run scripts/device/pack-node.sh where Node.js is installed and bring .device/ along"
device_require python3 "install Python 3 with torch, transformers and safetensors"
device_require nvcc "install the CUDA toolkit (12 or 13 with cuBLASLt) or set CUDA_HOME to it"
device_require nvidia-smi "no NVIDIA driver found: these scripts need a GPU machine"
