#!/usr/bin/env bash
# Debian packages the tests need: a Docker engine, debootstrap (to build the local Lambda-like image), bubblewrap
# (the sandbox fallback), Postgres and Chromium (the HTML report is checked as a headless browser renders it).
# Skips apt entirely when everything is already there.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "system packages ready: dockerd debootstrap bwrap pg_ctlcluster chromium"
