#!/usr/bin/env bash
# Fresh machine → dependencies installed → every test run (unit and loopback, then end to end).
# Used verbatim by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version | cut -d. -f1)" != "10" ]; then
  npm install --global pnpm@10 >/dev/null
fi
pnpm install --frozen-lockfile
pnpm test
pnpm test:e2e
