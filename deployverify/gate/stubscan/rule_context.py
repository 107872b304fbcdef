"""What every stub rule reads: the program, and for each handler its call graph and its toggle folds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

from deployverify.gate.stubscan.doubles import DoubleJudge
from deployverify.gate.stubscan.findings import ScanFinding
from deployverify.gate.stubscan.graph import CallGraph
from deployverify.gate.stubscan.program import Program
from deployverify.gate.stubscan.stubs import mock_word, placeholder_kind, success_without_work
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, ModuleSymbols, Node
from deployverify.gate.stubscan.toggles import ToggleEvaluator

_ABSTRACT_DECORATORS = frozenset({"abstractmethod", "abstractproperty", "abstractclassmethod", "abstractstaticmethod",
                                  "overload"})


@dataclass
class HandlerScan:
    handler: str
    graph: CallGraph
    must_reach: tuple[str, ...] = ()

    @property
    def toggles(self) -> ToggleEvaluator:
        """The folds made while the graph was built (DV305 quotes the flag each one read)."""
        return self.graph.resolver.toggles

    @cached_property
    def doubles(self) -> DoubleJudge:
        return DoubleJudge(self.graph.resolver)

    def double_evidence(self, node: Node) -> str | None:
        """Why a mock-named function or class behaves like a test double; None when the name is all it has."""
        if isinstance(node, ModuleSymbols) or not mock_word(node):
            return None
        return self.doubles.evidence(node)

    @property
    def root(self) -> Node | None:
        return next((n for n in self.graph.roots if isinstance(n, FuncInfo)), None)


@dataclass
class RuleContext:
    program: Program
    handlers: list[HandlerScan]
    orphan_min_lines: int = 60
    fail_on_todo: bool = False

    @cached_property
    def modules(self) -> list[ModuleSymbols]:
        return self.program.all_modules()

    @cached_property
    def overridden(self) -> frozenset[int]:
        """ids of methods some first-party subclass overrides (so they are abstract in all but name)."""
        found: set[int] = set()
        resolver = self.handlers[0].graph.resolver if self.handlers else None
        if resolver is None:
            return frozenset()
        for module in self.modules:
            for cls in module.classes:
                for ancestor in resolver.mro(cls)[1:]:
                    for name, method in ancestor.methods.items():
                        if name in cls.methods:
                            found.add(id(method))
        return frozenset(found)

    def is_abstract(self, fn: FuncInfo, graph: CallGraph) -> bool:
        if fn.decorators & _ABSTRACT_DECORATORS:
            return True
        if fn.cls is not None and any("Protocol" in c.base_names for c in graph.resolver.mro(fn.cls)):
            return True
        return id(fn) in self.overridden

    def stubs_reached(self) -> list[tuple[HandlerScan, Node]]:
        found: list[tuple[HandlerScan, Node]] = []
        for scan in self.handlers:
            for node in scan.graph.parent:
                if isinstance(node, FuncInfo | ClassInfo) and (
                        scan.double_evidence(node) or (isinstance(node, FuncInfo) and (
                            success_without_work(node) or placeholder_kind(node, self, scan.graph)))):
                    found.append((scan, node))
        return found


Rule = Callable[[RuleContext], Iterator[ScanFinding]]
