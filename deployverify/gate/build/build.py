"""Build the bundle the target describes, once per input state.

Three ways: the target's `bundle.command`, `sam build` for `bundle.sam` (writing .aws-sam/build/<Function>), or the
built-in aws-lambda-builders build (bundle/builtin.py) when the target names only `bundle.source` and
`bundle.requirements`. A prebuilt `bundle.output` is used as it is.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from deployverify.core.errors import BuildError, BundleError
from deployverify.core.progress import say
from deployverify.core.redact import redact
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
            # reports/out is where runs write their reports (by default under the project): never a build input.
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and (here / d).resolve() != exclude
                             and not (here.name == "reports" and d == "out"))
            for name in sorted(files):
                yield here / name


def input_hash(bundle: Bundle, definition: str, roots: tuple[Path, ...] = ()) -> str:
    digest = hashlib.sha256(definition.encode())
    roots = roots or bundle.inputs or tuple(p for p in (bundle.cwd, bundle.source, bundle.requirements) if p)
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
        # sam writes <build-dir>/<Function>; naming the build dir makes that the target's bundle.output wherever
        # the command runs from (sam's default, .aws-sam/build, is relative to the working folder).
        return ["sam", "build", "--template-file", str(bundle.sam.template), "--build-dir", str(bundle.output.parent),
                bundle.sam.function]
    return None


# What to install when a build program is missing, so the error says more than "not found".
_INSTALL_HINTS = {
    "sam": "install the AWS SAM CLI (`pip install aws-sam-cli`, or see https://docs.aws.amazon.com/serverless-"
           "application-model/latest/developerguide/install-sam-cli.html), or build with bundle.command instead",
    "bash": "install bash",
}


def ensure_built(target: Target, cache_root: Path) -> BuiltBundle:
    bundle = target.bundle
    if bundle.prebuilt:
        if not bundle.output.is_dir():
            raise BundleError("bundle folder does not exist", where=str(bundle.output))
        return BuiltBundle(bundle.output, bundle.layers, "prebuilt", 0.0)
    command = build_command(target)
    if command is None:
        from deployverify.gate.build.builtin import build_with_lambda_builders

        return build_with_lambda_builders(target, cache_root)
    cwd = bundle.cwd or target.base_dir
    return cached_build(target, cache_root, json.dumps(command), shlex.join(command),
                        lambda: run_build(command, cwd, bundle.output))


def cached_build(target: Target, cache_root: Path, definition: str, how: str, build: Callable[[], str],
                 roots: tuple[Path, ...] = ()) -> BuiltBundle:
    """Run `build` (which returns its log tail) unless the recorded input hash says bundle.output is current.

    The hash covers `roots` (default: bundle.inputs, else the build's working folder, source and requirements).
    """
    bundle = target.bundle
    started = time.perf_counter()
    stamps = cache_root / "builds"
    stamps.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(bundle.output).encode()).hexdigest()[:16]
    with FileLock(str(stamps / f"{key}.lock"), timeout=BUILD_TIMEOUT_S):
        wanted = input_hash(bundle, definition, roots)
        stamp = stamps / f"{key}.json"
        if stamp.exists() and bundle.output.is_dir():
            recorded = json.loads(stamp.read_text())
            if recorded.get("hash") == wanted:
                return BuiltBundle(bundle.output, bundle.layers, "cached", time.perf_counter() - started)
        stamp.unlink(missing_ok=True)
        say(f"building the bundle: `{how}` (its inputs changed since the last build)")
        tail = build()
        if not bundle.output.is_dir():
            raise BuildError(f"`{how}` succeeded but wrote no bundle at {bundle.output}", command=how, code=0,
                             tail=f"no bundle at {bundle.output}; point bundle.output at the folder the build writes")
        stamp.write_text(json.dumps({"hash": wanted, "output": str(bundle.output)}))
    return BuiltBundle(bundle.output, bundle.layers, how, time.perf_counter() - started, tail)


def run_build(command: list[str], cwd: Path, output: Path) -> str:
    # SAM would otherwise send telemetry, a network call the gate must not make.
    env = {**os.environ, "DV_BUNDLE_OUTPUT": str(output), "SAM_CLI_TELEMETRY": "0"}
    shown = shlex.join(command)
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)
    except FileNotFoundError:
        hint = _INSTALL_HINTS.get(command[0], f"install `{command[0]}` or fix the build definition")
        raise BuildError(f"`{command[0]}` is not installed (needed for `{shown}`): {hint}", command=shown, code=127,
                         tail=f"{command[0]}: command not found; {hint}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shown}` did not finish in {BUILD_TIMEOUT_S}s", command=shown, code=-9,
                         tail=f"killed after {BUILD_TIMEOUT_S}s") from None
    tail = redact("\n".join((done.stderr or done.stdout).strip().splitlines()[-15:]))
    if done.returncode != 0:
        last = tail.splitlines()[-1] if tail else "(no output)"
        raise BuildError(f"`{shown}` exited {done.returncode}: {last}\nits output ends:\n{tail}",
                         command=shown, code=done.returncode, tail=tail)
    return tail
