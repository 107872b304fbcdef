"""Find a host CPython of the runtime's version (bubblewrap and plain sandboxes run the host's interpreter).

A sandbox that runs the host's interpreter is only meaningful when its version equals the runtime's: a bundle's
compiled extensions and syntax are tied to it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deployverify.gate.probe.sandbox import SandboxUnavailable, run_process

_ASK = ("import json, os, sys; print(json.dumps([list(sys.version_info[:2]), sys.base_prefix, sys.base_exec_prefix, "
        "os.path.realpath(sys.executable)]))")
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


@dataclass(frozen=True)
class HostPython:
    executable: Path
    version: str
    prefixes: tuple[Path, ...]


def _candidates(version: str) -> list[str]:
    names = [getattr(sys, "_base_executable", ""), sys.executable, shutil.which(f"python{version}") or "",
             f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    seen: list[str] = []
    for name in names:
        if name and os.path.exists(name) and name not in seen:
            seen.append(name)
    return seen


@cache
def find_host_python(version: str) -> HostPython:
    """The first host interpreter whose version is `version`, or SandboxUnavailable naming what was found."""
    found: list[str] = []
    for candidate in _candidates(version):
        done = run_process([candidate, "-I", "-S", "-c", _ASK], env={"PATH": "/usr/bin:/bin"}, cwd=None, timeout_s=20)
        if done.code != 0:
            continue
        (major, minor), prefix, exec_prefix, real = json.loads(done.stdout)
        have = f"{major}.{minor}"
        found.append(f"{candidate} ({have})")
        if have == version:
            prefixes = tuple(dict.fromkeys(Path(p) for p in (prefix, exec_prefix)))
            return HostPython(Path(real), version, prefixes)
    listed = ", ".join(found) or "none"
    # What to do is the caller's to say (DV001/DV230 name the image and this interpreter together).
    raise SandboxUnavailable(f"no host CPython {version} to run the probe with (found: {listed})")


def host_sdk_packages() -> dict[str, Path]:
    """The runtime-included SDK as this process has it (pure Python, so any 3.x serves): import name -> folder/file."""
    found: dict[str, Path] = {}
    for name in SDK_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        found[name] = origin.parent if origin.name == "__init__.py" else origin
    return found
