"""A handler's call graph as data: the nodes it reaches, who reaches each first (for call paths), every edge, the
classes it instantiates (virtual calls dispatch to their overrides), the mock toggles it folded, and the dispatch
hops (routes, registries) shown in call paths. collector.py builds it; the rules read it.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from deployverify.gate.stubscan import dispatch
from deployverify.gate.stubscan.bindings import Scope
from deployverify.gate.stubscan.program import Program
from deployverify.gate.stubscan.resolver import Resolver
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, ModuleSymbols, Node


@dataclass(frozen=True)
class ToggleSite:
    """An `if` (or `x if c else y`) whose test folded to a constant because it reads a mock toggle."""

    node: Node
    scope: Scope
    test: ast.expr
    taken: bool
    branch: tuple[ast.stmt, ...] | ast.expr
    line: int


@dataclass
class CallGraph:
    """One handler's reached nodes: `parent` gives each its first caller (call paths are the shortest), `edges` all."""

    program: Program
    resolver: Resolver
    parent: dict[Node, Node | None] = field(default_factory=dict)
    edges: dict[Node, set[Node]] = field(default_factory=dict)
    instantiated: set[ClassInfo] = field(default_factory=set)
    toggles: list[ToggleSite] = field(default_factory=list)
    roots: list[Node] = field(default_factory=list)
    hops: dict[Node, tuple[str, ...]] = field(default_factory=dict)  # dispatch steps shown before a node
    registries: dispatch.Registries = field(init=False)
    _virtual: list[tuple[Node, ClassInfo, str, FuncInfo | None]] = field(default_factory=list)
    _queue: deque[Node] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.registries = dispatch.Registries(lambda caller, target, hop: self.add_edge(caller, target, hop=hop))

    def reached(self, node: Node) -> bool:
        return node in self.parent

    def call_path(self, node: Node) -> tuple[str, ...]:
        path: list[str] = []
        current: Node | None = node
        seen: set[int] = set()
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            path.append(current.display)
            path.extend(reversed(self.hops.get(current, ())))
            current = self.parent.get(current)
        return tuple(reversed(path))

    def reached_functions(self) -> list[FuncInfo]:
        return [n for n in self.parent if isinstance(n, FuncInfo)]

    def reached_classes(self) -> list[ClassInfo]:
        return [n for n in self.parent if isinstance(n, ClassInfo)]

    def reached_modules(self) -> set[str]:
        names: set[str] = set()
        for node in self.parent:
            names.add(node.name if isinstance(node, ModuleSymbols) else node.module.name)
        return names

    # -- building

    def add_root(self, node: Node) -> None:
        if node not in self.parent:
            self.parent[node] = None
            self.roots.append(node)
            self._queue.append(node)

    def add_edge(self, caller: Node, target: Node, via: FuncInfo | None = None, hop: tuple[str, ...] = ()) -> None:
        self.edges.setdefault(caller, set()).add(target)
        if target in self.parent:
            return
        self.parent[target] = via if via is not None and via is not caller and via in self.parent else caller
        if hop:
            self.hops[target] = hop
        self._queue.append(target)
        if isinstance(target, ClassInfo):
            self._instantiate(target)

    def dispatch_targets(self, base: ClassInfo, attr: str) -> list[FuncInfo]:
        """Where a virtual call of `attr` on "a `base` or a subclass" lands among the classes reached so far."""
        return list(self.resolver.virtual_targets(base, attr, (base, *self.instantiated)))

    def add_virtual(self, caller: Node, cls: ClassInfo, attr: str, via: FuncInfo | None) -> None:
        # Remembered, so a subclass instantiated later in the walk adds its override (see _instantiate).
        self._virtual.append((caller, cls, attr, via))
        for method in self.dispatch_targets(cls, attr):
            self.add_edge(caller, method, via)

    def _instantiate(self, cls: ClassInfo) -> None:
        if cls in self.instantiated:
            return
        self.instantiated.add(cls)
        for caller, base, attr, via in list(self._virtual):
            for method in self.resolver.virtual_targets(base, attr, (cls,)):
                self.add_edge(caller, method, via)

    def next_unvisited(self) -> Node | None:
        """The next reached node whose edges have not been collected yet (breadth first)."""
        return self._queue.popleft() if self._queue else None


def reachable_from(graph: CallGraph, start: Iterable[Node]) -> list[Node]:
    """Every node reachable from `start` along the graph's edges, breadth first."""
    seen: dict[Node, None] = {}
    queue = deque(start)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen[node] = None
        queue.extend(graph.edges.get(node, ()))
    return list(seen)


def name_of(node: Node) -> str:
    return node.name if isinstance(node, ModuleSymbols) else node.dotted
