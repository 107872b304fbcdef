"""The deployable bundle of a real-world handler folder: its code plus its requirements.txt installed, as the gate's
build leaves it and the gate's scan reads it.

`pip install --target <bundle> -r requirements.txt` told the Lambda platform (manylinux2014 x86_64, CPython 3.11,
wheels only), so nothing is compiled and the host's Python does not matter. A requirement pip cannot install
(a pin with no wheel, a package that left PyPI) is skipped and counted, the rest installed one by one. Built bundles
are kept under a cache folder keyed by repository, commit, folder and requirements text, so a rerun costs nothing;
they hold fetched and downloaded code, so that folder is never inside the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PIP_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11",
                "--only-binary=:all:")
PIP_TIMEOUT_S = 600


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    requirements: int  # requirement lines in requirements.txt (0: the folder is its own bundle)
    skipped: tuple[str, ...]  # requirement lines pip could not install for the platform


def cache_root() -> Path:
    return Path(os.environ.get("DV_REAL_WORLD_BUNDLES", Path.home() / ".cache" / "deployverify-real-world-bundles"))


def _requirement_lines(text: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _pip(target: Path, *arguments: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-compile", "--target", str(target), *PIP_PLATFORM, *arguments],
                          capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    return done.returncode == 0


def deployable_bundle(source: Path, key: str, root: Path | None = None) -> BuiltBundle:
    """`source` with its requirements installed beside the code (or `source` itself without a requirements.txt)."""
    requirements = source / "requirements.txt"
    if not requirements.is_file():
        return BuiltBundle(source, 0, ())
    text = requirements.read_text(encoding="utf-8", errors="replace")
    lines = _requirement_lines(text)
    folder = (root or cache_root()) / hashlib.sha256(f"{key}\n{text}".encode()).hexdigest()[:24]
    skipped_file = folder / ".deployverify-skipped"
    if folder.is_dir() and skipped_file.is_file():
        skipped = tuple(line for line in skipped_file.read_text(encoding="utf-8").splitlines() if line)
        return BuiltBundle(folder, len(lines), skipped)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        bundle = staging / "bundle"
        shutil.copytree(source, bundle)
        skipped_lines: list[str] = []
        if lines and not _pip(bundle, "-r", str(requirements)):
            skipped_lines = [line for line in lines if not _pip(bundle, line)]
        (bundle / ".deployverify-skipped").write_text("\n".join(skipped_lines), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        bundle.rename(folder)  # whole or not at all: a killed build leaves only its staging folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuiltBundle(folder, len(lines), tuple(skipped_lines))
