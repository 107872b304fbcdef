"""The installed distributions in a bundle, read from pip's `*.dist-info` metadata (RECORD, WHEEL, top_level.txt).

Only metadata is read, never the packages themselves, so this stays cheap on a bundle of thousands of files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 name: `Psycopg2_Binary` and `psycopg2-binary` are the same distribution."""
    return _NORMALIZE.sub("-", name).lower()


@dataclass(frozen=True)
class Distribution:
    name: str  # as the metadata folder spells it, normalized: `psycopg2-binary`
    version: str
    meta_dir: Path
    files: tuple[str, ...]  # paths relative to the folder holding the dist-info, from RECORD
    wheel_tags: tuple[str, ...]  # `Tag:` lines of WHEEL: `cp311-cp311-manylinux_2_17_x86_64`
    top_level: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip()


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def read_distribution(meta_dir: Path) -> Distribution:
    stem = meta_dir.name.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    files = tuple(row.split(",", 1)[0] for row in _read_lines(meta_dir / "RECORD") if row.strip())
    tags = tuple(line.split(":", 1)[1].strip() for line in _read_lines(meta_dir / "WHEEL")
                 if line.lower().startswith("tag:"))
    top_level = tuple(line.strip() for line in _read_lines(meta_dir / "top_level.txt") if line.strip())
    return Distribution(normalize(name), version, meta_dir, files, tags, top_level)


def read_distributions(root: Path) -> list[Distribution]:
    """Every `*.dist-info` (and `*.egg-info`) directly under `root`, sorted by name."""
    metas = sorted((*root.glob("*.dist-info"), *root.glob("*.egg-info")), key=lambda p: p.name.lower())
    return [read_distribution(meta) for meta in metas if meta.is_dir()]


class Owners:
    """Which distribution owns a file: by RECORD for exact files, else by the top-level folder it sits in."""

    def __init__(self, distributions: Iterable[Distribution]) -> None:
        self._by_file: dict[str, str] = {}
        self._by_top: dict[str, str] = {}
        for dist in distributions:
            for file in dist.files:
                self._by_file[file] = dist.name
                top = file.split("/", 1)[0]
                if "/" in file and not top.endswith((".dist-info", ".egg-info", ".data")):
                    self._by_top.setdefault(top, dist.name)
            for top in dist.top_level:
                self._by_top.setdefault(top.split("/")[0], dist.name)

    def owner(self, relative: str) -> str | None:
        """`relative` is a POSIX path below the folder the distributions were read from."""
        if relative in self._by_file:
            return self._by_file[relative]
        return self._by_top.get(relative.split("/", 1)[0])
