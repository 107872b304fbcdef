#!/usr/bin/env bash
# Build the local Lambda-like image deployverify/lambda-python:3.11, unless it is already there at this recipe.
#
# No image registry is reachable here, so public.ecr.aws/lambda/python:3.11 cannot be pulled. This lays out a Debian
# bookworm root (CPython 3.11) the way the real image is laid out, so the gate's probe sees what Lambda shows code:
#   /var/task                           the bundle (mounted read-only by the sandbox; empty in the image)
#   /var/lang/bin/python{,3,3.11}       the interpreter; /var/lang/pyvenv.cfg makes /var/lang its prefix, so
#   /var/lang/lib/python3.11/site-packages  holds the runtime-included SDK: boto3, botocore, s3transfer, jmespath,
#                                       python-dateutil, six, urllib3, awslambdaric (AWS docs, "Deploy Python Lambda
#                                       functions with container images": 3.11+ keeps them there, ahead of /var/runtime)
#   /var/runtime/bootstrap{,.py}        sets sys.path like Lambda's bootstrap and runs awslambdaric
#   /opt                                layers
#   env, WORKDIR and ENTRYPOINT as in aws-lambda-base-images' Dockerfile.python3.11
# Differences that remain (the checks state them): glibc 2.36 (Debian) instead of 2.26 (Amazon Linux 2), and no
# Runtime Interface Emulator binary (the local stack serves the Runtime API itself).
#
# Usage: .ci/lambda-image.sh [--force]     env: DV_CACHE_DIR (default ~/.cache/deployverify), PYTHON (host pip)
set -euo pipefail

IMAGE="${DV_LAMBDA_IMAGE:-deployverify/lambda-python:3.11}"
RECIPE="4"   # bump when anything below changes: the label makes every machine rebuild once
SUITE="bookworm"
PYVER="3.11"
SDK_PACKAGES=(awslambdaric boto3)

force=0
[[ "${1:-}" == "--force" ]] && force=1

have="$(docker image inspect --format '{{ index .Config.Labels "deployverify.recipe" }}' "$IMAGE" 2>/dev/null || true)"
if [[ $force == 0 && "$have" == "$RECIPE" ]]; then
  echo "lambda-image: $IMAGE is at recipe $RECIPE"
  exit 0
fi

cache="${DV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deployverify}/lambda-image"
mkdir -p "$cache"
base_tar="$cache/$SUITE-minbase-python3-r$RECIPE.tar"
work="$(mktemp -d "${TMPDIR:-/tmp}/dv-lambda-image.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# 1. The Debian root, cached as a tar: debootstrap takes a minute, rebuilding the layout on top takes seconds.
if [[ ! -s "$base_tar" ]]; then
  command -v debootstrap >/dev/null || { echo "lambda-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 2; }
  echo "lambda-image: debootstrap $SUITE (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-distutils,python3-lib2to3,locales \
    "$SUITE" "$work/base" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # Lambda's LANG is en_US.UTF-8; without the locale Python would fall back to ASCII for open() and stdout.
  chroot "$work/base" localedef -i en_US -f UTF-8 en_US.UTF-8
  rm -rf "$work/base/var/cache/apt/archives"/*.deb "$work/base/var/lib/apt/lists"/*
  tar -C "$work/base" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
  rm -rf "$work/base"
fi
root="$work/root"
mkdir -p "$root"
tar -C "$root" -xf "$base_tar"

# 2. Lambda's layout.
mkdir -p "$root/var/task" "$root/var/runtime" "$root/opt" "$root/var/lang/bin" \
         "$root/var/lang/lib/python$PYVER/site-packages"
for name in python python3 "python$PYVER"; do ln -sf "/usr/bin/python$PYVER" "$root/var/lang/bin/$name"; done
# A venv-style pyvenv.cfg: sys.prefix becomes /var/lang, so /var/lang/lib/python3.11/site-packages is the site dir
# (as in the real image) and Debian's dist-packages stay out of sys.path.
printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = %s\n' "$PYVER" >"$root/var/lang/pyvenv.cfg"

# The runtime-included SDK, installed for the image's CPython and platform, not the host's.
host_python="${PYTHON:-python3}"
"$host_python" -m pip install --quiet --disable-pip-version-check --no-compile \
  --target "$root/var/lang/lib/python$PYVER/site-packages" \
  --platform manylinux2014_x86_64 --implementation cp --python-version "$PYVER" --only-binary=:all: \
  "${SDK_PACKAGES[@]}"

# Lambda runs code as sbx_user1051 (uid 993), HOME unset: ~ resolves to a folder that does not exist.
echo "sbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin" >>"$root/etc/passwd"
echo "sbx_user1051:x:990:" >>"$root/etc/group"

cat >"$root/var/runtime/bootstrap" <<EOF
#!/bin/bash
# As the real image's /var/runtime/bootstrap: name the runtime, then start the Python bootstrap.
export AWS_EXECUTION_ENV=AWS_Lambda_python$PYVER
if [ -z "\$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec /var/lang/bin/python$PYVER /var/runtime/bootstrap.py
fi
exec -- "\$AWS_LAMBDA_EXEC_WRAPPER" /var/lang/bin/python$PYVER /var/runtime/bootstrap.py
EOF
cat >"$root/var/runtime/bootstrap.py" <<'EOF'
"""Lambda's Python bootstrap: task root and layers first on sys.path, their .pth files honoured, then awslambdaric."""
import os
import site
import sys

import awslambdaric.__main__ as awslambdaricmain


def main():
    pythonpath_set = "PYTHONPATH" in os.environ
    opt_site = "/opt/python/lib/python{}.{}/site-packages".format(*sys.version_info[:2])
    if not pythonpath_set:
        sys.path.insert(0, "/opt/python")
        sys.path.insert(0, opt_site)
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    site.addsitedir(os.environ["LAMBDA_TASK_ROOT"])
    if not pythonpath_set:
        site.addsitedir(opt_site)
        site.addsitedir("/opt/python")
        os.environ["PYTHONPATH"] = os.environ["LAMBDA_RUNTIME_DIR"]
    awslambdaricmain.main([os.environ["LAMBDA_TASK_ROOT"], os.environ["_HANDLER"]])


if __name__ == "__main__":
    main()
EOF
cat >"$root/lambda-entrypoint.sh" <<'EOF'
#!/bin/bash
# As the real image's entrypoint, minus the Runtime Interface Emulator: the Runtime API must be given.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  echo "AWS_LAMBDA_RUNTIME_API is not set: this image has no Runtime Interface Emulator; run a Runtime API server" 1>&2
  exit 1
fi
exec /var/runtime/bootstrap
EOF
chmod 755 "$root/var/runtime/bootstrap" "$root/lambda-entrypoint.sh"
chmod -R a+rX "$root/var/lang" "$root/var/runtime"

# Precompile the SDK as Lambda ships it, so a read-only /var/lang does not slow every import.
chroot "$root" "/usr/bin/python$PYVER" -m compileall -q -j 0 "/var/lang/lib/python$PYVER/site-packages" >/dev/null

# 3. Import as an image with the real image's configuration.
echo "lambda-image: importing $IMAGE"
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=en_US.UTF-8' \
  --change 'ENV TZ=:/etc/localtime' \
  --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  --change 'WORKDIR /var/task' \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  --change "LABEL deployverify.recipe=$RECIPE" \
  --change "LABEL deployverify.python=$PYVER" \
  - "$IMAGE" >/dev/null
docker run --rm --entrypoint /var/lang/bin/python "$IMAGE" -c \
  "import sys, boto3, awslambdaric; print('lambda-image: ready', sys.version.split()[0], 'boto3', boto3.__version__)"
