#!/usr/bin/env bash
# Debian packages the tests need: a Docker engine, debootstrap (to build the local Lambda-like image), bubblewrap
# (the sandbox fallback), Postgres, Chromium (the HTML report is checked as a headless browser renders it), binutils
# (readelf) and gcc (the native-extension tests: in CI a missing tool fails them instead of skipping) and
# python3-venv (.ci/run creates .venv with it). Skips apt entirely when everything is already there.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
command -v readelf >/dev/null || need+=(binutils)
command -v gcc >/dev/null || need+=(gcc)
# `python3 -m venv` needs ensurepip, which Debian ships separately; probe it the way .ci/run will use it.
scratch=$(mktemp -d)
python3 -m venv "$scratch/venv" >/dev/null 2>&1 || need+=(python3-venv)
rm -rf "$scratch"
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "system packages ready: dockerd debootstrap bwrap pg_ctlcluster chromium readelf gcc python3-venv"
