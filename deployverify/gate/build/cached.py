"""A build runs once per input state: keyed by a hash of its inputs (the build definition and every input file).

The key is recorded outside the bundle so the bundle's bytes, and so its zip's CodeSha256, are exactly what the build
wrote. Concurrent runs (xdist workers) share one build through a file lock. Both ways of building (build.py's
command and builtin.py's aws-lambda-builders) come here, which is why this is its own module: build.py chooses the
way and imports builtin.py, builtin.py imports this, and nothing imports back up.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from deployverify.core.errors import BuildError
from deployverify.core.progress import say
from deployverify.target.model import Bundle, Target

BUILD_TIMEOUT_S = 1800
_SKIP_DIRS = {".git", "__pycache__", ".aws-sam", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}


@dataclass(frozen=True)
class CrossBuilt:
    """Why a `bundle.sam` function was built by pip told the platform instead of by `sam build` (sam_cross.py)."""

    missing_interpreter: str  # the runtime `sam build` found no interpreter of on this host
    pip_arguments: str  # the platform, implementation and version pip was told, exactly
    pip_summary: str  # the same in short: the platform tags as a range
    layers: tuple[str, ...] = ()  # the sam-built layers cross-built with it


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    layers: tuple[Path, ...]
    how: str  # "prebuilt", "cached", or the command that ran
    seconds: float
    log_tail: str = ""
    cross_built: CrossBuilt | None = None  # set when `sam build` could not run here and pip built it instead
    missing_layers: tuple[str, ...] = ()  # remote layers the gate could not get, each in words (DV101 warns)


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


def stamp_files(cache_root: Path, stamp_of: Path) -> tuple[FileLock, Path]:
    """The lock that serialises the build writing `stamp_of`, and the stamp recording the inputs it was built from."""
    stamps = cache_root / "builds"
    stamps.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(stamp_of).encode()).hexdigest()[:16]
    return FileLock(str(stamps / f"{key}.lock"), timeout=BUILD_TIMEOUT_S), stamps / f"{key}.json"


def read_stamp(stamp: Path) -> dict[str, Any]:
    """A build's stamp: {"hash", "output"} for a build that succeeded; {} when there is none.

    A SAM template whose shared build failed records its functions' own outcomes instead (sam_template.py), for its
    run only: that is no build to reuse, so it reads as none here."""
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) and "run" not in recorded else {}


def build_unless_current(cache_root: Path, stamp_of: Path, wanted: str, current: Path, announce: str,
                         build: Callable[[], str]) -> str | None:
    """Under `stamp_of`'s lock: None when its stamp records the input hash `wanted` and the folder `current` exists;
    else say
    `announce`, run `build` (which returns its log tail and raises on failure) and stamp `wanted`. A build that
    raises leaves no stamp, so the next run builds again."""
    lock, stamp = stamp_files(cache_root, stamp_of)
    with lock:
        if read_stamp(stamp).get("hash") == wanted and current.is_dir():
            return None
        stamp.unlink(missing_ok=True)
        say(announce)
        tail = build()
        stamp.write_text(json.dumps({"hash": wanted, "output": str(current)}))
    return tail


def cached_build(target: Target, cache_root: Path, definition: str, how: str, build: Callable[[], str],
                 roots: tuple[Path, ...] = (), stamp_of: Path | None = None) -> BuiltBundle:
    """Run `build` (which returns its log tail) unless the recorded input hash says bundle.output is current.

    The hash covers `roots` (default: bundle.inputs, else the build's working folder, source and requirements).
    `stamp_of` is the folder the build writes (default bundle.output): bundles built by one build share its stamp.
    """
    bundle = target.bundle
    started = time.perf_counter()

    def build_and_check() -> str:
        tail = build()
        if not bundle.output.is_dir():
            raise BuildError(f"`{how}` succeeded but wrote no bundle at {bundle.output}", command=how, code=0,
                             tail=f"no bundle at {bundle.output}; point bundle.output at the folder the build writes")
        return tail

    tail = build_unless_current(cache_root, stamp_of or bundle.output, input_hash(bundle, definition, roots),
                                bundle.output, f"building the bundle: `{how}` (its inputs changed since the last "
                                "build)", build_and_check)
    if tail is None:
        return BuiltBundle(bundle.output, bundle.layers, "cached", time.perf_counter() - started)
    return BuiltBundle(bundle.output, bundle.layers, how, time.perf_counter() - started, tail)
