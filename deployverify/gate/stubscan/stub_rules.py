"""The stub rules: mock-named code (DV301), success without work (DV302), placeholders (DV303) and mock toggles
that default to the mock path (DV305), each over what the handlers reach.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from deployverify.gate.stubscan.collector import branch_targets
from deployverify.gate.stubscan.findings import ScanFinding, make_finding
from deployverify.gate.stubscan.graph import ToggleSite, reachable_from
from deployverify.gate.stubscan.rule_context import HandlerScan, RuleContext
from deployverify.gate.stubscan.stubs import (
    constant_tree,
    is_no_work,
    mock_word,
    mock_word_in,
    placeholder_kind,
    success_shaped,
    success_without_work,
)
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, ModuleSymbols


def mock_named(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        graph = scan.graph
        # One finding per mock-named function, and one per mock-named class or module however many of its
        # methods or functions are reached (the first one reached, so the call path is the shortest).
        reported: set[int] = set()
        for node in graph.parent:
            if not isinstance(node, FuncInfo | ClassInfo) or not mock_word(node):
                continue
            owner: object = node
            if isinstance(node, FuncInfo) and not mock_word_in(node.name):
                owner = node.cls if node.cls is not None and mock_word_in(node.cls.name) else node.module
            elif isinstance(node, ClassInfo) and not mock_word_in(node.name):
                owner = node.module
            if id(owner) in reported:
                continue
            evidence = scan.double_evidence(node)
            if evidence is None:
                continue  # named like a double, behaves like real code (a gRPC `_stub()`, a client factory)
            reported.add(id(owner))
            word = mock_word(node)
            yield make_finding("DV301", node, trail=graph.call_path(node), name=node.display, word=word,
                               evidence=evidence)


def success_no_work(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        # Only the handler itself may echo its event back: a helper that wraps its argument in a success response
        # (`respond(body) -> {"statusCode": 200, "body": body}`) is formatting, not a stand-in for work.
        entries = {id(root) for root in scan.graph.roots if isinstance(root, FuncInfo)}
        for fn in scan.graph.reached_functions():
            event = fn.input_params()[:1] if id(fn) in entries else []
            value = success_without_work(fn, frozenset(arg.arg for arg in event))
            if value is not None:
                path = scan.graph.call_path(fn)
                yield make_finding("DV302", fn, trail=path, name=fn.display, value=value)


def placeholders(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        for fn in scan.graph.reached_functions():
            found = placeholder_kind(fn, ctx, scan.graph)
            if found is not None:
                kind, line = found
                path = scan.graph.call_path(fn)
                yield make_finding("DV303", fn, trail=path, line=line, name=fn.display, kind=kind)



def mock_toggles(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        graph = scan.graph
        for site in graph.toggles:
            fold = scan.toggles.folds.get(id(site.test))
            if fold is None or not fold.flags:
                continue
            target = _mock_on_branch(ctx, scan, site)
            if target is None:
                continue
            flag = fold.flags[0]
            module = ctx.program.module(flag.module) or (site.node if isinstance(site.node, ModuleSymbols)
                                                         else site.node.module)
            source = " (set in the function's environment)" if flag.from_environment else ""
            path = graph.call_path(site.node)
            yield make_finding("DV305", site.node, trail=path, line=flag.line, in_module=module, subject=flag.name,
                           flag=flag.name, default=flag.default, source=source, name=target)


def _mock_on_branch(ctx: RuleContext, scan: HandlerScan, site: ToggleSite) -> str | None:
    targets = branch_targets(scan.graph, site)
    for node in reachable_from(scan.graph, targets):
        if isinstance(node, FuncInfo | ClassInfo) and (mock_word(node) or (
                isinstance(node, FuncInfo) and success_without_work(node))):
            return node.display
    if isinstance(site.branch, tuple) and site.branch and isinstance(site.node, FuncInfo):
        *prefix, last = site.branch
        if (all(is_no_work(s) for s in prefix) and isinstance(last, ast.Return) and last.value is not None
                and constant_tree(last.value) and success_shaped(last.value)):
            return f"{site.node.display} (its `return {ast.unparse(last.value)}` branch)"
    return None

