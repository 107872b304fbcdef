"""Would the Lambda runtime's pip have picked this wheel? Judges a WHEEL file's `Tag:` lines (PEP 425/600/656).

A wheel is fine when at least one of its tags is: a python tag the runtime's CPython accepts, an ABI it loads, and a
platform whose glibc and CPU match the runtime. `linux_<cpu>` (built from source on the build machine) passes with a
warning: it works only if the build machine's glibc is old enough, which DV202 checks on the files themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from deployverify.gate.native.platform import WheelPlatform

# The legacy manylinux names and the glibc they promise (PEP 600).
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_LEGACY = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    tag: str = ""  # the tag quoted in the message
    expected: str = ""  # what the runtime needs, said so that the fix is clear
    warning: bool = False


def expand(tags: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64` -> each (python, abi, platform) it stands for."""
    for tag in tags:
        parts = tag.split("-")
        if len(parts) != 3:
            continue
        for python in parts[0].split("."):
            for abi in parts[1].split("."):
                for platform in parts[2].split("."):
                    yield python, abi, platform


def _python_problem(python: str, abi: str, platform: WheelPlatform) -> str | None:
    major, minor = platform.python
    runtime_tag = f"cp{major}{minor}"
    accepted = f"`{runtime_tag}`, `abi3` built for <= {runtime_tag}, or `py3`"
    match = re.fullmatch(r"(cp|py)(\d)(\d*)", python)
    if match is None:
        return f"a CPython wheel ({accepted}), not `{python}`"
    kind, tag_major, tag_minor = match.group(1), int(match.group(2)), match.group(3)
    if tag_major != major:
        return f"Python {major} ({accepted})"
    version = int(tag_minor) if tag_minor else None
    if abi == "none":
        ok = version is None or (version <= minor if kind == "py" else version == minor)
    elif abi == "abi3":
        ok = kind == "cp" and version is not None and version <= minor
    else:
        ok = kind == "cp" and version == minor and abi == runtime_tag
    return None if ok else f"CPython {major}.{minor} ({accepted})"


def _manylinux(tag: str) -> tuple[tuple[int, int], str] | None:
    """(glibc it needs, cpu) for a manylinux platform tag, legacy or PEP 600."""
    legacy = _LEGACY.match(tag)
    if legacy:
        return _LEGACY_MANYLINUX[legacy.group(1)], legacy.group(2)
    modern = _MANYLINUX.match(tag)
    if modern:
        return (int(modern.group(1)), int(modern.group(2))), modern.group(3)
    return None


def _platform_problem(tag: str, platform: WheelPlatform) -> tuple[str | None, bool]:
    """(problem, warn-only) for one platform tag."""
    cpu, glibc = platform.cpu, platform.glibc
    newest = f"manylinux_{glibc[0]}_{glibc[1]}_{cpu}"
    if tag == "any":
        return None, False
    manylinux = _manylinux(tag)
    if manylinux is not None:
        needs, arch = manylinux
        if arch != cpu:
            return f"{cpu} wheels (the function runs on {platform.architecture}), not {arch}", False
        if needs > glibc:
            return (f"a platform tag up to `{newest}` ({platform.runtime} has glibc {platform.glibc_text}; "
                    f"`manylinux2014_{cpu}` works)"), False
        return None, False
    if tag == f"linux_{cpu}":
        return (f"a manylinux wheel: `{tag}` was compiled on the build machine and runs only if its glibc is "
                f"<= {platform.glibc_text} (DV202 checks the files)"), True
    kind = ("macOS" if tag.startswith("macosx") else "Windows" if tag.startswith("win") else
            "musl libc (Alpine)" if tag.startswith("musllinux") else "Linux " + tag[6:] if tag.startswith("linux_")
            else f"`{tag}`")
    return f"a Linux glibc wheel up to `{newest}`, not a {kind} one", False


def judge_tag(python: str, abi: str, platform_tag: str, platform: WheelPlatform) -> Verdict:
    problem = _python_problem(python, abi, platform)
    text = f"{python}-{abi}-{platform_tag}"
    if problem:
        return Verdict(False, text, problem)
    platform_problem, warn_only = _platform_problem(platform_tag, platform)
    if platform_problem:
        return Verdict(warn_only, text, platform_problem, warning=warn_only)
    return Verdict(True, text)


def judge_wheel(tags: Iterable[str], platform: WheelPlatform) -> Verdict:
    """Fine if any tag is; otherwise the verdict on the first tag (a warning beats a failure)."""
    verdicts = [judge_tag(*parts, platform) for parts in expand(tags)]
    if not verdicts:
        return Verdict(True)
    clean = [v for v in verdicts if v.ok and not v.warning]
    if clean:
        return clean[0]
    warned = [v for v in verdicts if v.ok]
    return warned[0] if warned else verdicts[0]
