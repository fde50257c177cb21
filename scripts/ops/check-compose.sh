#!/usr/bin/env bash
# Validates docker/docker-compose.yml as compose reads it (every profile, interpolation, env files);
# needs `docker compose` (v2) or `docker-compose` (v1.28+) but no running Docker engine. The check
# runs on a copy with an empty .env, so it neither needs nor reads your secrets.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/docker" "$work/docker"
: >"$work/.env"
"${compose[@]}" -f "$work/docker/docker-compose.yml" --profile monitoring config --quiet
services="$("${compose[@]}" -f "$work/docker/docker-compose.yml" --profile monitoring config --services | sort | tr '\n' ' ')"
echo "docker/docker-compose.yml is valid for ${compose[*]} ($("${compose[@]}" version --short)): ${services}"
