"""Hygiene rules: test libraries in loaded code (DV304), TODO markers on the reached path (DV306), and inline
suppressions that give no reason (DV309).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from deployverify.core.results import Severity
from deployverify.gate.stubscan.findings import ScanFinding, make_finding
from deployverify.gate.stubscan.rule_context import RuleContext
from deployverify.gate.stubscan.suppress import comments, inline_allows
from deployverify.gate.stubscan.symbols import FuncInfo, ModuleSymbols
from deployverify.gate.stubscan.syntax import child_nodes

_MARKER = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b")
_MARKER_BYTES = (b"TODO", b"FIXME", b"XXX", b"HACK")  # a module without them needs no decoding and no search
TEST_LIBRARIES = ("unittest.mock", "mock", "moto", "pytest", "_pytest", "responses", "freezegun", "faker",
                  "pytest_mock", "requests_mock")
_LIBRARY_WORDS = tuple(sorted({lib.rpartition(".")[2].encode() for lib in TEST_LIBRARIES}))


def test_doubles(ctx: RuleContext) -> Iterator[ScanFinding]:
    loaded: set[str] = set()
    for scan in ctx.handlers:
        loaded |= scan.graph.reached_modules()
    for module in ctx.modules:
        if module.is_test or module.name not in loaded or not _may_import_test_library(module.source):
            continue
        for names, line in _imports(module):
            for name in names:
                if ctx.program.is_first_party(name.split(".")[0]):
                    continue
                if any(name == lib or name.startswith(lib + ".") for lib in TEST_LIBRARIES):
                    yield make_finding("DV304", module, line=line, subject=name, in_module=module, module=name)
                    break


def _may_import_test_library(source: bytes) -> bool:
    """False when no import in `source` can name a test library, so its statements need no walk: an import spells
    out the last part of the name it loads (`mock` of unittest.mock), unless non-ASCII identifiers normalise to it."""
    return not source.isascii() or any(word in source for word in _LIBRARY_WORDS)


def markers(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        graph = scan.graph
        by_module: dict[str, list[FuncInfo]] = {}
        for fn in graph.reached_functions():
            by_module.setdefault(fn.module.name, []).append(fn)
        for module_name in by_module:
            module = ctx.program.module(module_name)
            if module is None or module.generated or not any(m in module.source for m in _MARKER_BYTES) or not (
                    _MARKER.search(module.source.decode("utf-8", "replace"))):
                continue
            for line, text, _ in comments(module.source):
                match = _MARKER.search(text)
                if not match:
                    continue
                owner = _innermost(module, line)
                if owner is None or not graph.reached(owner):
                    continue
                path = graph.call_path(owner)
                severity = Severity.ERROR if ctx.fail_on_todo else Severity.WARNING
                yield make_finding("DV306", owner, severity=severity, trail=path, line=line,
                               marker=match.group(1), name=owner.display, text=text.lstrip("# ").strip()[:120])


def _innermost(module: ModuleSymbols, line: int) -> FuncInfo | None:
    best: FuncInfo | None = None
    for fn in module.functions:
        if fn.node.lineno <= line <= (fn.node.end_lineno or fn.node.lineno) and (
                best is None or fn.node.lineno > best.node.lineno):
            best = fn
    return best



def reasonless_suppressions(ctx: RuleContext) -> Iterator[ScanFinding]:
    for module in ctx.modules:
        for allow in inline_allows(module.source):
            if not allow.reason:
                yield make_finding("DV309", module, line=allow.line, in_module=module, subject=",".join(allow.rules),
                               rule=",".join(allow.rules))


def _imports(module: ModuleSymbols) -> Iterator[tuple[list[str], int]]:
    """(names one import statement may load, its line), skipping `if TYPE_CHECKING:` blocks and relative imports."""
    stack: list[ast.AST] = list(module.tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield [alias.name], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                continue
            base = node.module or ""
            yield [*(f"{base}.{alias.name}" for alias in node.names), base], node.lineno
        else:
            stack.extend(c for c in child_nodes(node) if isinstance(c, ast.stmt | ast.excepthandler))

