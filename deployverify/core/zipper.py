"""A deterministic zip of a bundle folder, so the same files always give the same bytes and the same CodeSha256.

Entries are sorted by path, every timestamp is 1980-01-01 (zip's epoch), modes are normalised to 0644 or 0755
(executable bits kept), no directory entries, no `__pycache__`/`*.pyc` (the interpreter writes those; they are not
part of what was built). Symlinks are stored as the file they point to, as `sam build` does. Lambda's CodeSha256 is
the base64 of the zip's SHA-256, so `code_sha256(zip_bundle(folder))` is what the function would report after a
deploy of exactly this zip. Deflate output depends on zlib, so the hash is reproducible on one machine and across
machines with the same zlib; the file list and contents (`content_digest`) are reproducible everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = frozenset({"__pycache__"})
SKIP_SUFFIXES = (".pyc",)
COMPRESS_LEVEL = 6


def bundle_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for every file in the bundle, sorted by archive name."""
    found: list[tuple[str, Path]] = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        here = Path(current)
        for name in files:
            if name.endswith(SKIP_SUFFIXES):
                continue
            path = here / name
            found.append((path.relative_to(folder).as_posix(), path))
    yield from sorted(found)


def _mode(path: Path) -> int:
    executable = path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0o755 if executable else 0o644


def write_zip(folder: Path, out: io.BufferedIOBase | io.BytesIO) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name, path in bundle_files(folder):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = (stat.S_IFREG | _mode(path)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as source, archive.open(info, "w") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)


def zip_bundle(folder: str | Path) -> bytes:
    """The bundle as deterministic zip bytes."""
    buffer = io.BytesIO()
    write_zip(Path(folder), buffer)
    return buffer.getvalue()


def zip_to_file(folder: str | Path, dest: str | Path) -> Path:
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with partial.open("wb") as out:
        write_zip(Path(folder), out)
    partial.replace(target)
    return target


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def content_digest(folder: str | Path) -> str:
    """SHA-256 over names, modes and contents: independent of zlib, for comparing bundles across machines."""
    digest = hashlib.sha256()
    root = Path(folder)
    for name, path in bundle_files(root):
        digest.update(f"{name}\0{_mode(path):o}\0".encode())
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
