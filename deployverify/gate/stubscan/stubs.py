"""The stub rules (DV301-DV309): each a small function over the handlers' call graphs, registered in RULES.

A rule yields `ScanFinding`s: rule id, file (relative to the scanned root), line, message from the registry, the
call path from the handler, and the subject (the function, class, module or flag it is about) that allowlists and
baselines match on.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from deployverify.core import registry
from deployverify.core.results import Finding, Severity
from deployverify.gate.stubscan.callgraph import CallGraph, Program, branch_targets, closure, name_of
from deployverify.gate.stubscan.suppress import comments, inline_allows, normalise_message
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, ModuleSymbols, Node
from deployverify.gate.stubscan.toggles import ToggleEvaluator, words

MOCK_WORDS = frozenset({"mock", "mocks", "mocked", "stub", "stubs", "stubbed", "fake", "fakes", "faked", "dummy",
                        "dummies", "placeholder", "placeholders"})
_NEGATED_AFTER = frozenset({"free", "less"})
_NEGATED_BEFORE = frozenset({"no", "non", "not", "without", "un", "anti"})
_SUCCESS_WORDS = frozenset({"ok", "okay", "success", "successful", "succeeded", "done", "processed", "complete",
                            "completed", "accepted", "finished"})
_STATUS_KEYS = frozenset({"status", "state", "result", "outcome", "statuscode", "code", "success", "ok", "processed"})
_HEALTH_WORDS = frozenset({"health", "healthcheck", "healthz", "ping", "alive", "liveness", "readiness", "heartbeat"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
_NO_WORK_CALLS = frozenset({"print", "sleep"})
_ABSTRACT_DECORATORS = frozenset({"abstractmethod", "abstractproperty", "abstractclassmethod", "abstractstaticmethod",
                                  "overload"})
_MARKER = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b")
TEST_LIBRARIES = ("unittest.mock", "mock", "moto", "pytest", "_pytest", "responses", "freezegun", "faker",
                  "pytest_mock", "requests_mock")


@dataclass(frozen=True)
class ScanFinding:
    rule: str
    path: str  # relative to the scanned root, forward slashes
    line: int
    message: str
    severity: Severity = Severity.ERROR
    call_path: tuple[str, ...] = ()
    subject: str = ""
    file: Path | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, int, str]:
        return self.rule, self.path, self.line, self.subject

    @property
    def fingerprint(self) -> str:
        text = "|".join((self.rule, self.path, self.subject, normalise_message(self.message)))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_finding(self, display_path: str | None = None) -> Finding:
        return Finding(rule=self.rule, path=display_path or self.path, line=self.line, message=self.message,
                       severity=self.severity, call_path=self.call_path)


@dataclass
class HandlerScan:
    handler: str
    graph: CallGraph
    evaluator: ToggleEvaluator
    must_reach: tuple[str, ...] = ()

    @property
    def root(self) -> Node | None:
        return next((n for n in self.graph.roots if isinstance(n, FuncInfo)), None)


@dataclass
class RuleContext:
    program: Program
    handlers: list[HandlerScan]
    orphan_min_lines: int = 60

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
                        mock_word(node) or (isinstance(node, FuncInfo) and (
                            success_without_work(node) or placeholder_kind(node, self, scan.graph)))):
                    found.append((scan, node))
        return found


Rule = Callable[[RuleContext], Iterator[ScanFinding]]
RULES: dict[str, Rule] = {}
RULE_HELP: dict[str, str] = {}


def rule(rule_id: str, help_text: str) -> Callable[[Rule], Rule]:
    registry.spec(rule_id)

    def register(function: Rule) -> Rule:
        RULES[rule_id] = function
        RULE_HELP[rule_id] = help_text
        return function

    return register


def _finding(rule_id: str, node: Node, *, severity: Severity = Severity.ERROR, trail: tuple[str, ...] = (),
             subject: str | None = None, line: int | None = None, in_module: ModuleSymbols | None = None,
             **values: object) -> ScanFinding:
    module = in_module or (node if isinstance(node, ModuleSymbols) else node.module)
    at = line or node.line
    fields: dict[str, object] = {"path": module.relative, "line": at, "call_path": arrow(trail), **values}
    message = registry.message(rule_id, **fields)
    return ScanFinding(rule_id, module.relative, at, message, severity, trail,
                       subject if subject is not None else name_of(node), module.path)


def arrow(call_path: Iterable[str]) -> str:
    return " → ".join(call_path)


# ---- predicates ------------------------------------------------------------------------------------------------

def mock_word_in(identifier: str) -> str | None:
    tokens = words(identifier)
    for index, token in enumerate(tokens):
        if token not in MOCK_WORDS:
            continue
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        before = tokens[index - 1] if index else ""
        if after in _NEGATED_AFTER or before in _NEGATED_BEFORE:
            continue
        return token
    return None


def mock_word(node: Node) -> str | None:
    """The mock word in a function's, its class's or its module's name; generated gRPC code never counts."""
    module = node if isinstance(node, ModuleSymbols) else node.module
    if module.generated:
        return None
    names = [node.name]
    if isinstance(node, FuncInfo) and node.cls is not None:
        names.append(node.cls.name)
    if not isinstance(node, ModuleSymbols):
        names.append(module.name.rpartition(".")[2])
    return next((word for word in map(mock_word_in, names) if word), None)


def _body(fn: FuncInfo) -> list[ast.stmt]:
    body = list(fn.node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(
            body[0].value.value, str):
        body = body[1:]
    return body


def _is_no_work(stmt: ast.stmt) -> bool:
    """Logging, printing, sleeping or `pass`: statements that look busy and do nothing for the caller."""
    if isinstance(stmt, ast.Pass):
        return True
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
    if isinstance(value, ast.Constant):
        return True
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        return func.id in _NO_WORK_CALLS
    if isinstance(func, ast.Attribute):
        if func.attr in _NO_WORK_CALLS:
            return True
        base = func.value
        base_name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        return func.attr in _LOG_METHODS and "log" in base_name.lower()
    return False


def _constant_tree(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Dict):
        return all(k is not None and _constant_tree(k) for k in expr.keys) and all(map(_constant_tree, expr.values))
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return all(map(_constant_tree, expr.elts))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "dumps":
        return len(expr.args) == 1 and _constant_tree(expr.args[0])
    return False


def _success_value(value: object) -> bool:
    if value is True:
        return True
    if isinstance(value, str):
        return value.strip().lower() in _SUCCESS_WORDS
    return isinstance(value, int) and 200 <= value < 300


def success_shaped(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant):
        return expr.value is True or (isinstance(expr.value, str) and _success_value(expr.value))
    if isinstance(expr, ast.Dict):
        for key, value in zip(expr.keys, expr.values, strict=True):
            if (isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(value, ast.Constant)
                    and key.value.replace("_", "").lower() in _STATUS_KEYS and _success_value(value.value)):
                return True
        return False
    if isinstance(expr, ast.Tuple) and expr.elts:
        return success_shaped(expr.elts[0])
    if isinstance(expr, ast.Call) and expr.args:
        return success_shaped(expr.args[0])
    return False


def success_without_work(fn: FuncInfo) -> str | None:
    """The constant a function returns when its body is only logging and that success-shaped constant."""
    if fn.module.generated or any(w in _HEALTH_WORDS for w in words(fn.name)) or fn.name.startswith("__"):
        return None
    body = _body(fn)
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return None
    constants: dict[str, ast.expr] = {}
    for stmt in body[:-1]:
        if _is_no_work(stmt):
            continue
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and _constant_tree(stmt.value)):
            constants[stmt.targets[0].id] = stmt.value
            continue
        return None
    value = body[-1].value
    if isinstance(value, ast.Name) and value.id in constants:
        value = constants[value.id]
    if not _constant_tree(value) or not success_shaped(value):
        return None
    if isinstance(value, ast.Constant) and value.value is True and not fn.input_params():
        return None  # a constant predicate (`supports_pdf() -> True`), not a stand-in for work
    text = ast.unparse(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _raises_not_implemented(fn: FuncInfo) -> ast.Raise | None:
    stack: list[ast.AST] = list(fn.node.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return None


def placeholder_kind(fn: FuncInfo, ctx: RuleContext, graph: CallGraph) -> tuple[str, int] | None:
    if fn.module.generated or ctx.is_abstract(fn, graph):
        return None
    raised = _raises_not_implemented(fn)
    if raised is not None:
        return "raises NotImplementedError", raised.lineno
    if fn.name.startswith("__") and fn.name.endswith("__"):
        return None
    body = _body(fn)
    if not body:
        return "docstring only", fn.line
    if len(body) == 1 and isinstance(body[0], ast.Pass):
        return "body is `pass`", fn.line
    if len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
            body[0].value.value is Ellipsis:
        return "body is `...`", fn.line
    return None


# ---- rules -----------------------------------------------------------------------------------------------------

@rule("DV301", "A function or class named mock, stub, fake, dummy or placeholder is reachable from the handler: "
               "production runs it. Call the real implementation instead. Generated gRPC `*Stub` clients "
               "(`*_pb2_grpc` modules) are real code and never match.")
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
            reported.add(id(owner))
            yield _finding("DV301", node, trail=graph.call_path(node), name=node.display)


@rule("DV302", "A reachable function returns a success-shaped constant ({\"status\": \"success\"}, True, \"ok\", "
               "{\"statusCode\": 200}) and does nothing else but log: the caller believes work happened. "
               "Make it do the work, or remove it.")
def success_no_work(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        for fn in scan.graph.reached_functions():
            value = success_without_work(fn)
            if value is not None:
                path = scan.graph.call_path(fn)
                yield _finding("DV302", fn, trail=path, name=fn.display, value=value)


@rule("DV303", "A reachable function is a placeholder: it raises NotImplementedError or its body is only `pass` or "
               "`...`. Abstract methods, Protocol members, overloads and methods every subclass overrides are "
               "excluded.")
def placeholders(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        for fn in scan.graph.reached_functions():
            found = placeholder_kind(fn, ctx, scan.graph)
            if found is not None:
                kind, line = found
                path = scan.graph.call_path(fn)
                yield _finding("DV303", fn, trail=path, line=line, name=fn.display, kind=kind)


@rule("DV304", "Code the handler loads imports a test library (unittest.mock, moto, pytest, responses, freezegun, "
               "faker): test doubles run in production. Modules no handler imports (test files, local dev scripts) "
               "are not counted.")
def test_doubles(ctx: RuleContext) -> Iterator[ScanFinding]:
    loaded: set[str] = set()
    for scan in ctx.handlers:
        loaded |= scan.graph.reached_modules()
    for module in ctx.modules:
        if module.is_test or module.name not in loaded:
            continue
        for names, line in _imports(module):
            for name in names:
                if ctx.program.is_first_party(name.split(".")[0]):
                    continue
                if any(name == lib or name.startswith(lib + ".") for lib in TEST_LIBRARIES):
                    yield _finding("DV304", module, line=line, subject=name, in_module=module, module=name)
                    break


@rule("DV305", "An environment or config flag named like MOCK, USE_MOCK, STUB, FAKE or DRY_RUN selects a mock path, "
               "and its default (or the target's environment) selects it: the deployed function takes the mock "
               "path unless someone remembers to set the flag. Default to the real path.")
def mock_toggles(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        graph = scan.graph
        for site in graph.toggles:
            fold = scan.evaluator.folds.get(id(site.test))
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
            yield _finding("DV305", site.node, trail=path, line=flag.line, in_module=module, subject=flag.name,
                           flag=flag.name, default=flag.default, source=source, name=target)


def _mock_on_branch(ctx: RuleContext, scan: HandlerScan, site: object) -> str | None:
    from deployverify.gate.stubscan.callgraph import ToggleSite

    assert isinstance(site, ToggleSite)
    targets = branch_targets(scan.graph, site, scan.evaluator)
    for node in closure(scan.graph, targets):
        if isinstance(node, FuncInfo | ClassInfo) and (mock_word(node) or (
                isinstance(node, FuncInfo) and success_without_work(node))):
            return node.display
    if isinstance(site.branch, tuple) and site.branch and isinstance(site.node, FuncInfo):
        *prefix, last = site.branch
        if (all(_is_no_work(s) for s in prefix) and isinstance(last, ast.Return) and last.value is not None
                and _constant_tree(last.value) and success_shaped(last.value)):
            return f"{site.node.display} (its `return {ast.unparse(last.value)}` branch)"
    return None


@rule("DV306", "A TODO, FIXME, XXX or HACK comment inside a function the handler reaches: unfinished work on the "
               "production path. A warning: it does not fail the gate.")
def markers(ctx: RuleContext) -> Iterator[ScanFinding]:
    for scan in ctx.handlers:
        graph = scan.graph
        by_module: dict[str, list[FuncInfo]] = {}
        for fn in graph.reached_functions():
            by_module.setdefault(fn.module.name, []).append(fn)
        for module_name in by_module:
            module = ctx.program.module(module_name)
            if module is None or module.generated or not _MARKER.search(module.source.decode("utf-8", "replace")):
                continue
            for line, text, _ in comments(module.source):
                match = _MARKER.search(text)
                if not match:
                    continue
                owner = _innermost(module, line)
                if owner is None or not graph.reached(owner):
                    continue
                path = graph.call_path(owner)
                yield _finding("DV306", owner, severity=Severity.WARNING, trail=path, line=line,
                               marker=match.group(1), name=owner.display, text=text.lstrip("# ").strip()[:120])


def _innermost(module: ModuleSymbols, line: int) -> FuncInfo | None:
    best: FuncInfo | None = None
    for fn in module.functions:
        if fn.node.lineno <= line <= (fn.node.end_lineno or fn.node.lineno) and (
                best is None or fn.node.lineno > best.node.lineno):
            best = fn
    return best


@rule("DV307", "A large first-party function or module (scan.orphan_min_lines, default 60) is never reached while "
               "a stub is: the real implementation exists and nothing calls it. Wire it in.")
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
        yield _finding("DV307", orphan_node, trail=path, subject=name_of(orphan_node), stub=stub_name,
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


@rule("DV308", "The target lists functions each handler must reach (scan.must_reach); one is never reached. "
               "The message names the nearest function the handler does reach.")
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
            yield _finding("DV308", root, trail=(root.display,), subject=f"{scan.handler}->{required}",
                           handler=scan.handler, required=required, nearest=nearest)


@rule("DV309", "An inline `# deployverify: allow DV3nn` suppression gives no reason=\"...\": it suppresses "
               "nothing until it says why the finding is safe.")
def reasonless_suppressions(ctx: RuleContext) -> Iterator[ScanFinding]:
    for module in ctx.modules:
        for allow in inline_allows(module.source):
            if not allow.reason:
                yield _finding("DV309", module, line=allow.line, in_module=module, subject=",".join(allow.rules),
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
            stack.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt | ast.excepthandler))


def run_rules(ctx: RuleContext, only: Iterable[str] | None = None) -> list[ScanFinding]:
    wanted = set(only) if only is not None else set(RULES)
    seen: set[tuple[str, str, int, str]] = set()
    found: list[ScanFinding] = []
    for rule_id, function in RULES.items():
        if rule_id not in wanted:
            continue
        for finding in function(ctx):
            if finding.key not in seen:
                seen.add(finding.key)
                found.append(finding)
    return found
