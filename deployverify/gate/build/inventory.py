"""What the bundle ships and how big it is, as Lambda counts it (DV103).

Lambda limits a function to 262,144,000 bytes unzipped, layers included, and a directly uploaded zip to 50 MB. Sizes
are apparent sizes (`st_size`): a sparse or compressible file counts in full once unzipped. The files counted are the
ones the deterministic zip (deployverify.core.zipper) ships, so no `__pycache__`.

The zipped size is estimated, not zipped (zipping a fat bundle takes seconds): zip's per-entry headers are counted
exactly; the data is estimated per kind of file (suffix) by deflating an evenly spread subset of that kind's files,
reading at most 1 MiB per kind, and scaling by size. A file over 32 KiB is sampled by a 16 KiB piece of its start and
one of its middle. On real bundles this lands within a few percent of the real zip (see tests/gate/build/test_size.py),
a little high rather than low. It runs only when the bundle could be over 50 MB zipped at all.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from deployverify.core import registry
from deployverify.core.results import Finding, Severity
from deployverify.core.zipper import COMPRESS_LEVEL, SKIP_DIRS, SKIP_SUFFIXES
from deployverify.gate.build.dists import Owners, normalize, read_distributions
from deployverify.gate.build.layer_names import REBUILT_LAYER_MARKER, layer_name

UNZIPPED_LIMIT = 262_144_000  # bytes, function code and all its layers (Lambda quotas)
ZIPPED_LIMIT = 50 * 1024 * 1024  # a zip uploaded directly (not through S3)
_PIECE = 16 * 1024
_GROUP_BUDGET = 1024 * 1024
_ZIP_ENTRY_OVERHEAD = 30 + 46  # local file header + central directory record, before the name (twice)
_ZIP_END = 22


@dataclass(frozen=True)
class FileEntry:
    path: Path
    name: str  # as in the zip: relative POSIX path
    size: int
    group: str  # the distribution that installed it, or the top-level name of first-party code
    first_party: bool


@dataclass(frozen=True)
class Contributor:
    name: str
    size: int
    files: int
    first_party: bool


@dataclass
class Inventory:
    entries: list[FileEntry] = field(default_factory=list)  # the bundle's own files
    layer_entries: list[FileEntry] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bundle_size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def layer_size(self) -> int:
        return sum(e.size for e in self.layer_entries)

    @property
    def total_size(self) -> int:
        """What Lambda's unzipped limit counts: the function's code and all its layers."""
        return self.bundle_size + self.layer_size

    @property
    def first_party_size(self) -> int:
        return sum(e.size for e in self.entries if e.first_party)

    def contributors(self) -> list[Contributor]:
        groups: dict[tuple[str, bool], list[int]] = {}
        for entry in (*self.entries, *self.layer_entries):
            groups.setdefault((entry.group, entry.first_party), []).append(entry.size)
        found = [Contributor(name, sum(sizes), len(sizes), first) for (name, first), sizes in groups.items()]
        return sorted(found, key=lambda c: (-c.size, c.name))

    def biggest(self, count: int = 5) -> str:
        return ", ".join(f"{c.name} {human(c.size)}" for c in self.contributors()[:count])

    def summary(self) -> str:
        third = self.bundle_size - self.first_party_size
        files = len(self.entries) + len(self.layer_entries)
        return (f"{human(self.total_size)} unzipped in {files:,} files (first-party {human(self.first_party_size)}, "
                f"third-party {human(third)}, layers {human(self.layer_size)}); biggest: {self.biggest()}")


def human(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if not name.endswith(SKIP_SUFFIXES):
                path = Path(folder, name)
                yield path, path.relative_to(root).as_posix()


def _entries(root: Path, prefix: str, bundle: bool) -> Iterator[FileEntry]:
    owners = Owners(read_distributions(root))
    for path, name in _walk(root):
        top = name.split("/", 1)[0]
        owner = owners.owner(name)
        if owner is None and top.endswith((".dist-info", ".egg-info")):
            owner = normalize(top.split("-", 1)[0])
        size = os.stat(path).st_size
        if owner is not None:
            yield FileEntry(path, prefix + name, size, owner, False)
        else:
            group = f"{prefix}{top}" if "/" in name else f"{prefix}{name} (top-level module)"
            yield FileEntry(path, prefix + name, size, group, bundle)


def take_inventory(bundle: Path, layers: Iterable[Path] = ()) -> Inventory:
    started = time.perf_counter()
    inventory = Inventory(entries=list(_entries(bundle, "", True)))
    for layer in layers:
        inventory.layer_entries.extend(  # the gate's marker beside a rebuilt layer is not part of the layer
            entry for entry in _entries(Path(layer), f"layer {layer_name(Path(layer))}: ", False)
            if entry.path != Path(layer) / REBUILT_LAYER_MARKER)
    inventory.seconds = time.perf_counter() - started
    return inventory


@dataclass(frozen=True)
class ZipEstimate:
    size: int
    method: str
    seconds: float


def _deflated(data: bytes) -> int:
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)  # raw deflate, as zip stores it
    return len(compressor.compress(data)) + len(compressor.flush())


def _read(entry: FileEntry, offset: int = 0, size: int = -1) -> bytes:
    try:
        with entry.path.open("rb") as stream:
            stream.seek(offset)
            return stream.read(size)
    except OSError:
        return b""


def _deflated_file(entry: FileEntry) -> int:
    """A file up to two pieces long is deflated whole; a longer one from a piece of its start and one of its middle,
    their ratio scaled to its size."""
    if entry.size <= 2 * _PIECE:
        return _deflated(_read(entry))
    head, middle = _read(entry, 0, _PIECE), _read(entry, entry.size // 2, _PIECE)
    sampled = len(head) + len(middle)
    ratio = (_deflated(head) + _deflated(middle)) / sampled if sampled else 1.0
    return round(entry.size * min(ratio, 1.0))


def _deflated_group(group: list[FileEntry]) -> int:
    """Files of one kind (same suffix) compress alike: estimate an evenly spread subset, reading at most
    _GROUP_BUDGET bytes, and scale by size to the rest. A group under the budget is estimated file by file."""
    cost = sum(min(e.size, 2 * _PIECE) for e in group)
    stride = max(1, -(-cost // _GROUP_BUDGET))  # ceil(cost / budget)
    chosen = group[::stride]
    estimate = sum(_deflated_file(e) for e in chosen)
    chosen_size = sum(e.size for e in chosen)
    rest = sum(e.size for e in group) - chosen_size
    return estimate + (round(rest * estimate / chosen_size) if chosen_size else rest)


def deflate_estimate(entries: list[FileEntry]) -> int:
    """The zip's size: exact per-entry headers plus the deflated data, estimated by suffix group."""
    headers = sum(_ZIP_ENTRY_OVERHEAD + 2 * len(e.name.encode()) for e in entries) + _ZIP_END
    groups: dict[str, list[FileEntry]] = {}
    for entry in entries:
        groups.setdefault(PurePosixPath(entry.name).suffix, []).append(entry)
    return headers + sum(_deflated_group(group) for group in groups.values())


def upper_bound_zipped(entries: list[FileEntry]) -> int:
    """No zip of these files is bigger: stored data plus headers (deflate falls back to stored blocks)."""
    return sum(e.size + e.size // 1000 + 5 + _ZIP_ENTRY_OVERHEAD + 2 * len(e.name.encode()) for e in entries) + _ZIP_END


def estimate_zipped(inventory: Inventory) -> ZipEstimate:
    """The function's own zip (layers are uploaded separately), estimated only when it could exceed 50 MB."""
    started = time.perf_counter()
    bound = upper_bound_zipped(inventory.entries)
    if bound <= ZIPPED_LIMIT:
        return ZipEstimate(bound, "at most the unzipped size plus zip headers", time.perf_counter() - started)
    return ZipEstimate(deflate_estimate(inventory.entries), "estimated by deflating up to 1 MiB of samples of each "
                       "kind of file",
                       time.perf_counter() - started)


def size_failure(inventory: Inventory) -> str | None:
    """DV103's failure message when the bundle and layers exceed Lambda's unzipped limit, else None."""
    if inventory.total_size <= UNZIPPED_LIMIT:
        return None
    return registry.message("DV103", layers=" with its layers" if inventory.layer_entries else "",
                            size=f"{inventory.total_size:,} bytes ({human(inventory.total_size)})",
                            limit=f"{UNZIPPED_LIMIT:,} bytes", biggest=inventory.biggest())


def zipped_warning(estimate: ZipEstimate) -> Finding | None:
    """Over 50 MB zipped the code cannot be uploaded directly, only through S3: worth knowing, not a failure."""
    if estimate.size <= ZIPPED_LIMIT:
        return None
    return Finding(rule="DV103", path=".", line=0, severity=Severity.WARNING,
                   message=f"the bundle zips to about {human(estimate.size)} ({estimate.method}), over the 50 MB "
                           "limit of a direct upload: deploy it through S3 (sam deploy does) or trim it")
