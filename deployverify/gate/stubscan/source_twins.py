"""Where a finding's file lives in the source tree: the scan reads a bundle, a copy of the sources under other
folders, while annotations and SARIF must point at the repository file with the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from deployverify.gate.stubscan.scan_report import ScanReport


def display_paths(report: ScanReport, roots: Sequence[Path], source_roots: Sequence[Path]) -> dict[str, str]:
    """Scan-relative paths mapped to the repository file with the same bytes, relative to the working folder.

    Annotations and SARIF point at source files; a bundle is a copy of them under different folders.
    """
    mapped: dict[str, str] = {}
    relatives = {f.path: f.file for f in [*report.findings, *(f for f, _ in report.suppressed)]}
    for relative, file in relatives.items():
        if file is None or not file.exists():
            continue
        found = _source_twin(file, relative, roots, source_roots)
        mapped[relative] = _relative_to_cwd(found or file)
    return mapped


def _source_twin(file: Path, relative: str, roots: Sequence[Path], source_roots: Sequence[Path]) -> Path | None:
    try:
        content = file.read_bytes()
    except OSError:
        return None
    resolved_roots = {r.resolve() for r in roots}
    for source_root in source_roots:
        if source_root.resolve() in resolved_roots:
            continue
        direct = source_root / relative
        if direct.is_file() and direct.resolve() != file.resolve() and direct.read_bytes() == content:
            return direct
        found = _search_twin(source_root, file, relative, content)
        if found is not None:
            return found
    return None


_TWIN_SKIP = {".git", "build", ".aws-sam", "node_modules", "site-packages", "__pycache__", ".venv", "venv", ".tox",
              "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_TWIN_BUDGET = 20000  # folder entries looked at per file, so a huge repository cannot stall the report


def _search_twin(source_root: Path, file: Path, relative: str, content: bytes) -> Path | None:
    """A file under source_root ending with the same relative path (or the same name) and holding the same bytes."""
    name = relative.rsplit("/", 1)[-1]
    best: Path | None = None
    best_depth = -1
    seen = 0
    for folder, dirs, names in os.walk(source_root):
        dirs[:] = sorted(d for d in dirs if d not in _TWIN_SKIP and not d.endswith((".dist-info", ".egg-info")))
        seen += len(dirs) + len(names)
        if seen > _TWIN_BUDGET:
            break
        if name not in names:
            continue
        candidate = Path(folder) / name
        if candidate.resolve() == file.resolve():
            continue
        try:
            if candidate.read_bytes() != content:
                continue
        except OSError:
            continue
        shared = _common_suffix(candidate.relative_to(source_root).as_posix(), relative)
        if shared > best_depth:
            best, best_depth = candidate, shared
    return best


def _common_suffix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(reversed(a.split("/")), reversed(b.split("/")), strict=False):
        if x != y:
            break
        count += 1
    return count


def _relative_to_cwd(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)

