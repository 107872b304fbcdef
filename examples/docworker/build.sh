#!/usr/bin/env bash
# Bundle the document worker the way Lambda loads it (/var/task is the bundle root):
#   <bundle>/process_document_lambda.py, db.py, models/, services/, tasks/   <- apps/worker-tasks/src/*
#   <bundle>/shared/                                                          <- apps/backend-api/src/shared
#   <bundle>/pymupdf/, psycopg2/, ...                                         <- requirements.txt, Lambda's platform
# Usage: build.sh [output-dir]   (default: examples/docworker/build/bundle; the folder is deleted and recreated)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bundle="${1:-$here/build/bundle}"
python="${PYTHON:-python3}"

case "$bundle" in
  / | "$HOME" | "$here" | "$here/" | .) echo "build.sh: refusing to replace $bundle" >&2; exit 2 ;;
esac

rm -rf "$bundle"
mkdir -p "$bundle"
cp -R "$here/apps/worker-tasks/src/." "$bundle/"
# The worker imports S3Service as shared.storage.s3_service: it lives in the backend API, not in apps/shared.
cp -R "$here/apps/backend-api/src/shared" "$bundle/shared"
find "$bundle" -type d -name __pycache__ -prune -exec rm -rf {} +

# Wheels for Lambda (x86_64, CPython 3.11, glibc 2.26), not for whatever machine runs this script.
"$python" -m pip install --quiet \
  --target "$bundle" \
  --platform manylinux2014_x86_64 \
  --implementation cp \
  --python-version 3.11 \
  --only-binary=:all: \
  --upgrade \
  -r "$here/requirements.txt"

echo "Bundle ready: $bundle"
