"""No import circle between the package's modules at import time.

import-linter's contracts hold packages to the layers; this holds single files to a stricter rule inside a package:
following the imports a module runs when it is imported (module level, outside `if TYPE_CHECKING:`) never leads
back to it. Type-only imports may point back (a definition and the bindings that name it), because they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.shipped import imported_base, shipped_modules


def _runs_at_import(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, with `if TYPE_CHECKING:` bodies left out (they never run)."""
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            kept.extend(node.orelse)
        elif isinstance(node, ast.Try | ast.If):
            kept.extend(node.body)
            kept.extend(getattr(node, "orelse", []))
        else:
            kept.append(node)
    return kept


def import_graph() -> dict[str, set[str]]:
    files = dict(shipped_modules())
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in _runs_at_import(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = imported_base(name, path, node)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_at_import_time() -> None:
    graph = import_graph()
    # a package's __init__ re-exporting its modules is not a circle worth reporting: drop package -> own child edges
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_holds_runtime_imports_and_not_type_only_ones() -> None:
    graph = import_graph()
    assert "deployverify.gate.stubscan.bindings" in graph["deployverify.gate.stubscan.symbols"]
    # bindings names the symbols' classes only under TYPE_CHECKING: no edge back
    assert "deployverify.gate.stubscan.symbols" not in graph["deployverify.gate.stubscan.bindings"]


def test_relative_imports_resolve_from_the_importing_module() -> None:
    def base(source: str, module: str, file: str) -> str:
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.ImportFrom)
        return imported_base(module, Path(file), node)

    assert base("from . import x", "deployverify.gate", "deployverify/gate/__init__.py") == "deployverify.gate"
    assert base("from . import x", "deployverify.gate.cold_start", "cold_start.py") == "deployverify.gate"
    assert base("from ..sam import y", "deployverify.gate.cold_start", "cold_start.py") == "deployverify.sam"
    assert base("from deployverify.core import z", "deployverify.gate.cold_start", "x.py") == "deployverify.core"
