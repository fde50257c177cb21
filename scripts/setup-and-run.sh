#!/usr/bin/env bash
# Fresh machine → dependencies installed → the miner started (arguments pass through, e.g. -v).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version | cut -d. -f1)" != "10" ]; then
  npm install --global pnpm@10 >/dev/null
fi
pnpm install --frozen-lockfile
exec pnpm start:miner "$@"
