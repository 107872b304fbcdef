"""The program index: the first-party modules a scan may read, each parsed (into its definitions and bindings) on
first use, so a module nothing reaches is parsed only if a whole-code rule asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deployverify.gate.stubscan.symbols import ModuleSymbols, parse_module


@dataclass(frozen=True)
class SourceModule:
    name: str
    path: Path
    relative: str
    is_package: bool


class Program:
    """The first-party modules, parsed on first use (a module nothing reaches is parsed only for whole-code rules)."""

    def __init__(self, sources: Mapping[str, SourceModule]) -> None:
        self.sources = dict(sources)
        self._parsed: dict[str, ModuleSymbols | None] = {}
        self._prefixes = {".".join(n.split(".")[:i]) for n in self.sources for i in range(1, n.count(".") + 1)}
        self.unparsable: list[SourceModule] = []

    def module(self, name: str) -> ModuleSymbols | None:
        if name in self._parsed:
            return self._parsed[name]
        source = self.sources.get(name)
        parsed = None
        if source is not None:
            try:
                data = source.path.read_bytes()
            except OSError:
                data = None
            if data is not None:
                parsed = parse_module(name, source.path, source.relative, source.is_package, data)
            if parsed is None:
                self.unparsable.append(source)
        self._parsed[name] = parsed
        return parsed

    def is_first_party(self, name: str) -> bool:
        return name in self.sources or name in self._prefixes

    def parsed_modules(self) -> list[ModuleSymbols]:
        return [m for m in self._parsed.values() if m is not None]

    def all_modules(self) -> list[ModuleSymbols]:
        found = (self.module(name) for name in sorted(self.sources))
        return [m for m in found if m is not None]
