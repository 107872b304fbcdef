"""Native code in the bundle, read from file headers before anything is imported (DV201-DV205).

Each `.so`/`.pyd` (and versioned shared library such as `libpq.so.5`) is opened once: the first bytes give the
format (ELF, Mach-O, PE), the ELF header the machine, and the `.gnu.version_r` section the highest `GLIBC_x.y` it
needs. The extension's file name carries the CPython ABI it was built for, and each `*.dist-info/WHEEL` the tags of
the wheel it came from. Nothing else is read, so a bundle of thousands of files is scanned in well under a second.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import SymbolTableSection

from deployverify.core import registry
from deployverify.core.results import Finding, Severity
from deployverify.gate.build.dists import Distribution, Owners, read_distributions
from deployverify.gate.build.layer_names import layer_name
from deployverify.gate.native.platform import WheelPlatform
from deployverify.gate.native.wheeltags import judge_wheel

_SKIP_DIRS = {"__pycache__", ".git"}

# First bytes of the binary formats that are not Linux ELF; a `.so` starting with one was built on another system.
_FOREIGN_MAGIC: dict[bytes, str] = {
    b"\xfe\xed\xfa\xce": "macOS (Mach-O)",
    b"\xce\xfa\xed\xfe": "macOS (Mach-O)",
    b"\xfe\xed\xfa\xcf": "macOS (Mach-O)",
    b"\xcf\xfa\xed\xfe": "macOS (Mach-O)",
    b"\xca\xfe\xba\xbe": "macOS (Mach-O universal)",
    b"\xbe\xba\xfe\xca": "macOS (Mach-O universal)",
}
_ELF_MAGIC = b"\x7fELF"

# e_machine as pyelftools names it -> the architecture name people use.
_MACHINES = {
    "EM_X86_64": "x86_64",
    "EM_AARCH64": "arm64 (aarch64)",
    "EM_386": "32-bit x86",
    "EM_ARM": "32-bit ARM",
    "EM_PPC64": "ppc64",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv",
}
_EXTENSION_TAG = re.compile(r"^cpython-(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)(?:-(?P<platform>.+))?$")
_PYD_TAG = re.compile(r"^cp(?P<major>\d)(?P<minor>\d+)-(?P<platform>.+)$")
_GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class ExtensionTag:
    """The ABI part of an extension module's file name: `cpython-312-x86_64-linux-gnu`, `abi3`, `cp311-win_amd64`."""

    text: str
    python: tuple[int, int] | None = None  # None for abi3 and untagged names
    flags: str = ""  # `t` free-threaded, `d` debug: neither loads in Lambda's interpreter
    platform: str | None = None

    @property
    def python_text(self) -> str:
        return f"{self.python[0]}.{self.python[1]}{self.flags}" if self.python else self.text


@dataclass(frozen=True)
class NativeFile:
    path: Path
    relative: str  # shown in messages: below the bundle root, or `<layer>/python/...` for a layer
    package: str  # the distribution that installed it, else its top-level folder
    format: str  # ELF | macOS (Mach-O) | macOS (Mach-O universal) | Windows (PE) | corrupt ELF | empty | unknown
    machine: str | None = None  # e_machine for ELF (EM_X86_64 ...)
    glibc: tuple[int, ...] | None = None  # highest GLIBC_x.y[.z] it needs
    tag: ExtensionTag | None = None  # None: a shared library, not an extension module
    head: bytes = b""
    detail: str = ""  # why a corrupt or unreadable file is so

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def glibc_text(self) -> str:
        return "GLIBC_" + ".".join(map(str, self.glibc)) if self.glibc else "no versioned glibc symbol"


@dataclass(frozen=True)
class WheelRecord:
    dist: str  # `psycopg2-binary 2.9.13`
    where: str  # the WHEEL file, relative like NativeFile.relative
    tags: tuple[str, ...]


@dataclass
class NativeScan:
    files: list[NativeFile] = field(default_factory=list)
    wheels: list[WheelRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def extensions(self) -> list[NativeFile]:
        return [f for f in self.files if f.tag is not None]

    def summary(self) -> str:
        highest = max((f for f in self.files if f.glibc), key=lambda f: f.glibc or (), default=None)
        need = f"; highest glibc need {highest.glibc_text} ({highest.relative})" if highest else ""
        return (f"read {len(self.files)} native file(s) ({len(self.extensions)} extension module(s)) and "
                f"{len(self.wheels)} WHEEL file(s) in {self.seconds * 1000:.0f} ms{need}")


def is_native_name(name: str) -> bool:
    return name.endswith((".so", ".pyd")) or ".so." in name


def extension_tag(name: str) -> ExtensionTag | None:
    """The ABI tag of an extension module's file name, or None when the file is a plain shared library."""
    if name.endswith(".pyd"):
        stem = name[: -len(".pyd")]
    elif name.endswith(".so"):
        stem = name[: -len(".so")]
    else:
        return None  # libfoo.so.1: loaded by the dynamic linker, never imported
    if name.startswith("lib") and "." not in stem:
        return None  # libfoo.so: a library next to the extensions (pymupdf/libmupdf.so)
    module, _, tag = stem.partition(".")
    if not module.isidentifier():
        return None
    if not tag:
        return ExtensionTag(text="")
    if tag == "abi3":
        return ExtensionTag(text=tag)
    match = _EXTENSION_TAG.match(tag) or _PYD_TAG.match(tag)
    if not match:
        return ExtensionTag(text=tag, platform=tag)
    parts = match.groupdict()
    return ExtensionTag(text=tag, python=(int(parts["major"]), int(parts["minor"])), flags=parts.get("flags") or "",
                        platform=parts["platform"])


def _verneed_sections(elf: ELFFile) -> Iterator[GNUVerNeedSection]:
    # get_section(type=...) checks the header before building the section object: only .gnu.version_r is parsed.
    for index in range(elf.num_sections()):
        try:
            section = elf.get_section(index, type=("SHT_GNU_verneed",))
        except ELFError:
            continue
        if isinstance(section, GNUVerNeedSection):
            yield section


def _glibc_need(elf: ELFFile) -> tuple[int, ...] | None:
    highest: tuple[int, ...] | None = None
    for section in _verneed_sections(elf):
        for _, auxiliaries in section.iter_versions():
            for aux in auxiliaries:
                match = _GLIBC_VERSION.match(aux.name)
                if match:
                    version = tuple(int(g) for g in match.groups() if g is not None)
                    highest = version if highest is None or version > highest else highest
    return highest


def symbols_needing(path: Path, version: str) -> list[str]:
    """Dynamic symbols bound to `version` (GLIBC_2.34): read only for files that fail, to say what to replace."""
    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            indexes = {aux["vna_other"] for section in _verneed_sections(elf)
                       for _, auxiliaries in section.iter_versions() for aux in auxiliaries if aux.name == version}
            versym = next(elf.iter_sections(type="SHT_GNU_versym"), None)
            dynsym = elf.get_section_by_name(".dynsym")
            if not isinstance(versym, GNUVerSymSection) or not isinstance(dynsym, SymbolTableSection):
                return []
            names = [dynsym.get_symbol(i).name for i in range(versym.num_symbols())
                     if versym.get_symbol(i)["ndx"] in indexes]
            return sorted(n for n in names if n)
    except (ELFError, OSError, ValueError, KeyError):
        return []


def read_native(path: Path, relative: str, package: str) -> NativeFile:
    tag = extension_tag(path.name)
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
            if head.startswith(_ELF_MAGIC):
                return _read_elf(stream, path, relative, package, tag, head)
    except OSError as exc:
        return NativeFile(path, relative, package, "unreadable", tag=tag, detail=str(exc.strerror))
    if not head:
        return NativeFile(path, relative, package, "empty", tag=tag)
    if head[:4] in _FOREIGN_MAGIC:
        return NativeFile(path, relative, package, _FOREIGN_MAGIC[head[:4]], tag=tag, head=head)
    if head.startswith(b"MZ"):
        return NativeFile(path, relative, package, "Windows (PE)", tag=tag, head=head)
    return NativeFile(path, relative, package, "unknown", tag=tag, head=head)


def _damage(elf: ELFFile, size: int) -> str | None:
    """What makes a well-formed ELF header unloadable: no program headers, or tables past the end of the file."""
    if elf["e_phnum"] == 0:
        return "no program headers: nothing the dynamic linker can map"
    for table, offset, count, entry in (("program header", "e_phoff", elf["e_phnum"], "e_phentsize"),
                                        ("section", "e_shoff", elf.num_sections(), "e_shentsize")):
        end = elf[offset] + count * elf[entry]
        if end > size:
            return f"truncated: its {table} table ends at byte {end:,}, the file has {size:,}"
    return None


def _read_elf(stream: BinaryIO, path: Path, relative: str, package: str, tag: ExtensionTag | None,
              head: bytes) -> NativeFile:
    stream.seek(0)
    try:
        elf = ELFFile(stream)
        machine = str(elf["e_machine"])
        problem = _damage(elf, os.fstat(stream.fileno()).st_size)
        if problem:
            return NativeFile(path, relative, package, "corrupt ELF", tag=tag, head=head, detail=problem)
        glibc = _glibc_need(elf)
    except Exception as exc:  # pyelftools raises many kinds on a damaged file; none may stop the scan
        return NativeFile(path, relative, package, "corrupt ELF", tag=tag, head=head,
                          detail=f"{type(exc).__name__}: {exc}")
    return NativeFile(path, relative, package, "ELF", machine=machine, glibc=glibc, tag=tag, head=head)


def _iter_native(root: Path) -> Iterator[tuple[Path, str]]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if is_native_name(name):
                file = Path(folder, name)
                yield file, file.relative_to(root).as_posix()


def layer_roots(layer: Path) -> tuple[Path, ...]:
    """Where Lambda puts a layer's Python code: /opt/python and /opt/python/lib/pythonX.Y/site-packages."""
    return (layer / "python", *sorted((layer / "python" / "lib").glob("python3.*/site-packages")))


def scan_roots(bundle: Path, layers: Iterable[Path] = ()) -> list[tuple[Path, str]]:
    """(folder, how messages prefix its paths): the bundle first, then each layer's Python folders."""
    roots: list[tuple[Path, str]] = [(bundle, "")]
    for layer in layers:
        for root in layer_roots(Path(layer)):
            roots.append((root, f"{layer_name(Path(layer))}/{root.relative_to(layer).as_posix()}/"))
    return roots


def scan_native(bundle: Path, layers: Iterable[Path] = ()) -> NativeScan:
    started = time.perf_counter()
    scan = NativeScan()
    for root, prefix in scan_roots(bundle, layers):
        if not root.is_dir():
            continue
        distributions = read_distributions(root)
        owners = Owners(distributions)
        for file, relative in _iter_native(root):
            package = owners.owner(relative) or relative.split("/", 1)[0]
            scan.files.append(read_native(file, prefix + relative, package))
        scan.wheels.extend(_wheel_records(distributions, root, prefix))
    scan.seconds = time.perf_counter() - started
    return scan


def _wheel_records(distributions: Iterable[Distribution], root: Path, prefix: str) -> Iterator[WheelRecord]:
    for dist in distributions:
        if dist.wheel_tags:
            where = prefix + (dist.meta_dir / "WHEEL").relative_to(root).as_posix()
            yield WheelRecord(dist.label, where, dist.wheel_tags)


# -- the rules: each takes the scan and the platform and returns findings (error severity fails the check) --


def _finding(check_id: str, item: NativeFile | WheelRecord, severity: Severity = Severity.ERROR,
             **values: Any) -> Finding:
    path = item.relative if isinstance(item, NativeFile) else item.where
    return Finding(rule=check_id, path=path, line=0, message=registry.message(check_id, **values), severity=severity)


def architecture_findings(scan: NativeScan, platform: WheelPlatform) -> list[Finding]:
    """DV201: every ELF file is built for the function's architecture."""
    return [_finding("DV201", f, file=f.relative, package=f.package,
                     found=_MACHINES.get(f.machine or "", f.machine or "?"),
                     expected=_MACHINES[platform.elf_machine], cpu=platform.cpu)
            for f in scan.files if f.format == "ELF" and f.machine != platform.elf_machine]


def glibc_findings(scan: NativeScan, platform: WheelPlatform) -> list[Finding]:
    """DV202: no ELF file needs a newer glibc than the runtime's."""
    findings = []
    for f in scan.files:
        if f.format == "ELF" and f.glibc and f.glibc[:2] > platform.glibc:
            symbols = symbols_needing(f.path, f.glibc_text)
            found = f.glibc_text + (f" (for {', '.join(f'`{s}`' for s in symbols[:3])})" if symbols else "")
            findings.append(_finding("DV202", f, file=f.relative, package=f.package, found=found,
                                     runtime=platform.runtime, expected=platform.glibc_text))
    return findings


def _accepted_names(file_name: str, platform: WheelPlatform) -> str:
    """`_psycopg.cpython-311-x86_64-linux-gnu.so`, `_psycopg.abi3.so` or `_psycopg.so`: what the importer looks for."""
    module = file_name.split(".")[0]
    names = [f"`{module}{suffix}`" for suffix in platform.extension_suffixes]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def abi_findings(scan: NativeScan, platform: WheelPlatform) -> list[Finding]:
    """DV203: every ELF extension module's file name is one the runtime's importer loads."""
    findings = []
    for f in scan.files:
        tag = f.tag
        if f.format != "ELF" or tag is None or tag.text in ("", "abi3"):
            continue
        if tag.python is not None and (tag.python != platform.python or tag.flags):
            found = tag.python_text
        elif f.machine == platform.elf_machine and tag.platform != platform.multiarch:
            found = f"{tag.python_text} on `{tag.platform}`" if tag.python else f"`{tag.text}`"
        else:
            continue  # right version, wrong CPU in the name: DV201 reports the CPU from the ELF header
        findings.append(_finding("DV203", f, file=f.relative, package=f.package, found=found,
                                 runtime=platform.runtime, accepts=_accepted_names(f.name, platform),
                                 expected=platform.python_text))
    return findings


def foreign_findings(scan: NativeScan, platform: WheelPlatform) -> list[Finding]:
    """DV204: nothing shipped as `.so`/`.pyd` is a macOS, Windows or unreadable binary."""
    findings = []
    for f in scan.files:
        if f.format == "ELF":
            continue
        why = "the dynamic linker cannot load it"
        if f.format.startswith(("macOS", "Windows")):
            found, why = f"a {f.format} binary", f"it was built on {f.format.split()[0]}"
        elif f.format == "empty":
            found = "an empty file"
        elif f.format == "unknown":
            found = f"a file of unknown format (it starts with {f.head[:8]!r})"
        else:
            found = f"a {f.format} file ({f.detail})"
        findings.append(_finding("DV204", f, file=f.relative, package=f.package, found=found, why=why,
                                 arch=platform.cpu))
    return findings


def native_findings(scan: NativeScan, platform: WheelPlatform) -> dict[str, list[Finding]]:
    return {"DV201": architecture_findings(scan, platform), "DV202": glibc_findings(scan, platform),
            "DV203": abi_findings(scan, platform), "DV204": foreign_findings(scan, platform),
            "DV205": wheel_findings(scan, platform)}


def wheel_findings(scan: NativeScan, platform: WheelPlatform) -> list[Finding]:
    """DV205: each installed wheel has at least one tag the runtime accepts (python, abi and platform)."""
    findings = []
    for wheel in scan.wheels:
        verdict = judge_wheel(wheel.tags, platform)
        if verdict.ok and not verdict.warning:
            continue
        severity = Severity.ERROR if not verdict.ok else Severity.WARNING
        findings.append(_finding("DV205", wheel, severity, dist=wheel.dist, found=verdict.tag,
                                 expected=verdict.expected))
    return findings


@dataclass(frozen=True)
class NativeReport:
    """One scan of the bundle and layers, judged once; each DV20x check reads its own list of findings."""

    platform: WheelPlatform
    scan: NativeScan
    findings: dict[str, list[Finding]]

    def evidence(self) -> str:
        target = f"{self.platform.runtime} on {self.platform.architecture}, glibc {self.platform.glibc_text}"
        return f"{self.scan.summary()}; target {target}"


def native_report(bundle: Path, layers: Iterable[Path], platform: WheelPlatform) -> NativeReport:
    scan = scan_native(bundle, layers)
    return NativeReport(platform, scan, native_findings(scan, platform))
