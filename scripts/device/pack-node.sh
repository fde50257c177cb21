#!/usr/bin/env bash
# Optional step for a GPU machine that has CUDA and python3 but no Node.js: packs this machine's
# Node.js binary and headers into .device/ (git-ignored) with a boot script. Copy or sync the
# checkout with .device/ to that machine and start its commands with `source .device/boot.sh`.
# Machines that already have Node.js >= 20.19 skip this step.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
for tool in node xz tar; do
  command -v "$tool" >/dev/null || { echo "pack-node: '$tool' is required and was not found on PATH" >&2; exit 1; }
done
node_bin=$(command -v node)
headers=$(dirname "$(dirname "$node_bin")")/include/node
[ -f "$headers/node_api.h" ] || {
  echo "pack-node: Node.js headers not found at $headers (install the Node.js development headers)" >&2
  exit 1
}
mkdir -p .device
if [ ! -s .device/node.xz ] || [ "$node_bin" -nt .device/node.xz ]; then
  echo "compressing $(node --version) (about 30 s)"
  xz -T2 -6 -c "$node_bin" > .device/node.xz
fi
[ -s .device/node-headers.tar.xz ] || tar -C "$(dirname "$headers")/.." -cJf .device/node-headers.tar.xz include/node
cp scripts/device/boot.sh .device/boot.sh
du -sh .device
