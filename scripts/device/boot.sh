# Sourced at the start of a command on a GPU machine without Node.js (see pack-node.sh): unpacks
# Node.js and its headers from .device/ into /tmp/devnode and puts them and CUDA on PATH.
# Sourcing it twice is harmless.
if [ ! -x /tmp/devnode/bin/node ]; then
  mkdir -p /tmp/devnode/bin
  xz -d < .device/node.xz > /tmp/devnode/bin/node && chmod +x /tmp/devnode/bin/node
  tar -C /tmp/devnode -xJf .device/node-headers.tar.xz
fi
export PATH=/tmp/devnode/bin:/usr/local/cuda/bin:$PATH
export NODE_HEADERS_DIR=/tmp/devnode/include/node
export npm_config_nodedir=/tmp/devnode
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
echo "device: node $(node --version), $(nvcc --version 2>/dev/null | tail -1), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sort | uniq -c | xargs)"
