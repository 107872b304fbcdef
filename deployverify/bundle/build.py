"""Build the bundle the target describes, once per input state.

A build is keyed by a hash of its inputs (the build definition and every input file), recorded outside the bundle so
the bundle's bytes, and so its zip's CodeSha256, are exactly what the build wrote. Concurrent runs (xdist workers)
share one build through a file lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from deployverify.errors import BuildError, BundleError
from deployverify.redact import redact
from deployverify.target.model import Bundle, Target

BUILD_TIMEOUT_S = 1800
_SKIP_DIRS = {".git", "__pycache__", ".aws-sam", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    layers: tuple[Path, ...]
    how: str  # "prebuilt", "cached", or the command that ran
    seconds: float
    log_tail: str = ""


def _iter_input_files(roots: tuple[Path, ...], exclude: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
            continue
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and (here / d).resolve() != exclude)
            for name in sorted(files):
                yield here / name


def input_hash(bundle: Bundle, definition: str) -> str:
    digest = hashlib.sha256(definition.encode())
    roots = bundle.inputs or tuple(p for p in (bundle.cwd, bundle.source, bundle.requirements) if p is not None)
    for file in _iter_input_files(roots, bundle.output.resolve()):
        digest.update(str(file).encode())
        try:
            digest.update(file.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()


def build_command(target: Target) -> list[str] | None:
    bundle = target.bundle
    if bundle.command:
        return ["bash", "-c", bundle.command]
    if bundle.sam:
        return ["sam", "build", "--template-file", str(bundle.sam.template), bundle.sam.function]
    return None


def ensure_built(target: Target, cache_root: Path) -> BuiltBundle:
    bundle = target.bundle
    started = time.perf_counter()
    if bundle.prebuilt:
        if not bundle.output.is_dir():
            raise BundleError("bundle folder does not exist", where=str(bundle.output))
        return BuiltBundle(bundle.output, bundle.layers, "prebuilt", 0.0)
    command = build_command(target)
    if command is None:
        from deployverify.bundle.builtin import build_with_lambda_builders

        return build_with_lambda_builders(target, cache_root)
    stamps = cache_root / "builds"
    stamps.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(bundle.output).encode()).hexdigest()[:16]
    with FileLock(str(stamps / f"{key}.lock"), timeout=BUILD_TIMEOUT_S):
        wanted = input_hash(bundle, json.dumps(command))
        stamp = stamps / f"{key}.json"
        if stamp.exists() and bundle.output.is_dir():
            recorded = json.loads(stamp.read_text())
            if recorded.get("hash") == wanted:
                return BuiltBundle(bundle.output, bundle.layers, "cached", time.perf_counter() - started)
        stamp.unlink(missing_ok=True)
        tail = run_build(command, bundle.cwd or target.base_dir, bundle.output)
        if not bundle.output.is_dir():
            raise BuildError(f"`{shlex.join(command)}` succeeded but wrote no bundle at {bundle.output}")
        stamp.write_text(json.dumps({"hash": wanted, "output": str(bundle.output)}))
    return BuiltBundle(bundle.output, bundle.layers, shlex.join(command), time.perf_counter() - started, tail)


def run_build(command: list[str], cwd: Path, output: Path) -> str:
    env = {**os.environ, "DV_BUNDLE_OUTPUT": str(output)}
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)
    except FileNotFoundError:
        raise BuildError(f"`{command[0]}` is not installed (needed for `{shlex.join(command)}`)") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shlex.join(command)}` did not finish in {BUILD_TIMEOUT_S}s") from None
    tail = redact("\n".join((done.stderr or done.stdout).strip().splitlines()[-15:]))
    if done.returncode != 0:
        raise BuildError(f"`{shlex.join(command)}` exited {done.returncode}; stderr ends:\n{tail}",
                         command=shlex.join(command), code=done.returncode, tail=tail)
    return tail
