#!/usr/bin/env bash
# mypy --strict on the package as pip installs it. checks/, smoke/ and reports/ ship as deployverify.checks,
# deployverify.smoke and deployverify.reports through pyproject's package-dir, which mypy cannot follow in the
# repository; so the package is staged the one way it is built (pip), checked there, and paths are mapped back.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
python="${PYTHON:-$root/.venv/bin/python}"
stage="$(mktemp -d "${TMPDIR:-/tmp}/dv-typecheck.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
"$python" -m pip install --quiet --no-deps --no-compile --target "$stage" "$root" 2>/dev/null \
  || "$python" -m pip install --no-deps --no-compile --target "$stage" "$root"
rm -rf "$root/build"
cd "$stage"
set +e
"$python" -m mypy --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p deployverify \
  | sed -e 's#^deployverify/checks/#checks/#' -e 's#^deployverify/smoke/#smoke/#' -e 's#^deployverify/reports/#reports/#'
status=${PIPESTATUS[0]}
exit "$status"
