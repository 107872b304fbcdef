"""Wiring rules: a real implementation nothing calls while a stub is reached (DV307), and functions a handler
must reach that it does not (DV308).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from deployverify.gate.stubscan.findings import ScanFinding, make_finding
from deployverify.gate.stubscan.graph import name_of
from deployverify.gate.stubscan.rule_context import RuleContext
from deployverify.gate.stubscan.stubs import MOCK_WORDS
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, ModuleSymbols
from deployverify.gate.stubscan.toggles import words


def orphans(ctx: RuleContext) -> Iterator[ScanFinding]:
    stubs = ctx.stubs_reached()
    if not stubs:
        return
    reached_nodes: set[int] = set()
    reached_modules: set[str] = set()
    for scan in ctx.handlers:
        reached_nodes.update(id(n) for n in scan.graph.parent)
        reached_modules |= scan.graph.reached_modules()
    candidates: list[tuple[str, int, FuncInfo | ModuleSymbols, str]] = []  # (name, lines, node, path)
    for module in ctx.modules:
        if module.is_test or module.generated:
            continue
        if module.name not in reached_modules and module.lines >= ctx.orphan_min_lines:
            candidates.append((module.name, module.lines, module, module.relative))
            continue
        for fn in module.top_level_functions_and_methods():
            if id(fn) not in reached_nodes and fn.lines >= ctx.orphan_min_lines:
                candidates.append((fn.qualname, fn.lines, fn, module.relative))
    if not candidates:
        return
    reported: set[int] = set()
    names = {id(c[2]): _candidate_names(c[2]) for c in candidates}
    for scan, stub in stubs:
        stub_base = _without_mock_words(stub.name)
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(stub_base)  # SequenceMatcher caches facts about seq2: vary only seq1
        best = max(candidates, key=lambda c: (_similarity(matcher, names[id(c[2])]), c[1]))
        if id(best[2]) in reported:
            continue
        reported.add(id(best[2]))
        orphan_node = best[2]
        if isinstance(orphan_node, ModuleSymbols):
            named = _best_function(orphan_node, stub_base)
            orphan = f"{named.qualname}()" if named is not None else orphan_node.name
        else:
            orphan = f"{orphan_node.qualname}()"
        stub_name = f"{stub.display}()" if isinstance(stub, FuncInfo) else stub.display
        path = scan.graph.call_path(stub)
        yield make_finding("DV307", orphan_node, trail=path, subject=name_of(orphan_node), stub=stub_name,
                       orphan=orphan, lines=best[1], path=best[3])


def _without_mock_words(name: str) -> str:
    return "_".join(w for w in words(name) if w not in MOCK_WORDS)


def _candidate_names(node: FuncInfo | ModuleSymbols) -> list[str]:
    names = [node.name.rpartition(".")[2]] if isinstance(node, ModuleSymbols) else [node.name]
    if isinstance(node, ModuleSymbols):
        names += [f.name for f in node.top_level_functions_and_methods() if f.cls is None]
    return sorted({"_".join(words(n)) for n in names})


def _similarity(matcher: difflib.SequenceMatcher[str], names: list[str]) -> float:
    best = 0.0
    for name in names:
        matcher.set_seq1(name)
        if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
            best = max(best, matcher.ratio())
    return best


def _best_function(module: ModuleSymbols, stub_base: str) -> FuncInfo | None:
    functions = [f for f in module.top_level_functions_and_methods() if f.cls is None]
    if not functions:
        return None
    return max(functions, key=lambda f: (difflib.SequenceMatcher(None, stub_base, "_".join(words(f.name))).ratio(),
                                         f.lines))


def required_reach(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        if not scan.must_reach or scan.root is None:
            continue
        reached = [n for n in scan.graph.parent if isinstance(n, FuncInfo | ClassInfo)]
        names = {n.dotted: n for n in reached}
        for required in scan.must_reach:
            wanted = required.replace(":", ".")
            if any(d == wanted or d.endswith("." + wanted) for d in names):
                continue
            near = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.0)
            nearest = near[0] if near else "(nothing)"
            root = scan.root
            yield make_finding("DV308", root, trail=(root.display,), subject=f"{scan.handler}->{required}",
                           handler=scan.handler, required=required, nearest=nearest)

