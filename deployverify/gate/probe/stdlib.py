"""The standard library's top-level module names for any Lambda Python version, from this interpreter's.

`sys.stdlib_module_names` describes only the running interpreter, and the runtime's version may differ. The table
below holds what changed between consecutive versions (top-level names only; sources: the "Removed" and "New
modules" sections of What's New in Python 3.9-3.14, PEP 594 and PEP 632), so the runtime's set is this interpreter's
set walked forward or back one version at a time. A name in several versions' tables is handled in order.
"""

from __future__ import annotations

import sys
from functools import cache

# version -> (top-level modules added in it, modules removed in it, why they were removed / what replaces them)
_CHANGES: dict[tuple[int, int], tuple[frozenset[str], frozenset[str], str]] = {
    (3, 9): (frozenset({"graphlib", "zoneinfo", "_zoneinfo", "_peg_parser"}),
             frozenset({"_dummy_thread", "dummy_threading"}), "use threading"),
    (3, 10): (frozenset(), frozenset({"formatter", "parser", "symbol", "_peg_parser"}), "use ast"),
    (3, 11): (frozenset({"tomllib"}), frozenset({"binhex"}), "use base64 or binascii"),
    (3, 12): (frozenset(), frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"}),
              "see What's New in Python 3.12: asyncio replaces asynchat/asyncore/smtpd, importlib replaces imp, "
              "setuptools or packaging replace distutils (PEP 632)"),
    (3, 13): (frozenset(), frozenset({"aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap",
                                      "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau",
                                      "telnetlib", "uu", "xdrlib", "lib2to3", "_crypt"}),
              "PEP 594 removed the dead batteries in Python 3.13; see the PEP for each module's replacement"),
    (3, 14): (frozenset({"annotationlib", "compression", "_zstd"}), frozenset(), ""),
}
_FIRST, _LAST = (3, 8), (3, 14)


def _step(names: set[str], version: tuple[int, int], forward: bool) -> None:
    added, removed, _ = _CHANGES.get(version, (frozenset(), frozenset(), ""))
    if forward:
        names -= removed
        names |= added
    else:
        names -= added
        names |= removed


@cache
def stdlib_names(version: tuple[int, int]) -> frozenset[str]:
    """Top-level standard-library module names of CPython `version` (3.8 ... 3.14)."""
    if not _FIRST <= version <= _LAST:
        raise ValueError(f"no standard-library table for Python {version[0]}.{version[1]}")
    host = sys.version_info[:2]
    names = set(sys.stdlib_module_names)
    if version > host:
        for minor in range(host[1] + 1, version[1] + 1):
            _step(names, (3, minor), forward=True)
    else:
        for minor in range(host[1], version[1], -1):
            _step(names, (3, minor), forward=False)
    return frozenset(names)


def removal(name: str, version: tuple[int, int]) -> str | None:
    """Why `name` is not in Python `version`'s standard library although older versions had it, or None."""
    removed_in = [v for v, (_, removed, _) in _CHANGES.items() if name in removed and v <= version]
    if not removed_in:
        return None
    when = max(removed_in)
    return f"`{name}` was removed from the standard library in Python {when[0]}.{when[1]}; {_CHANGES[when][2]}"


def addition(name: str, version: tuple[int, int]) -> str | None:
    """Why `name` is not in Python `version`'s standard library although newer versions have it, or None."""
    added_in = [v for v, (added, _, _) in _CHANGES.items() if name in added and v > version]
    if not added_in:
        return None
    when = min(added_in)
    return (f"`{name}` joined the standard library in Python {when[0]}.{when[1]}, after the runtime's "
            f"{version[0]}.{version[1]}; bundle a backport or guard the import")
