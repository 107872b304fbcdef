"""What a stub looks like: mock words in names, success returned without work, placeholder bodies.

The predicates the stub rules (stub_rules.py) and the orphan rule (wiring_rules.py) share. Each looks at one
function, class or module; which of them the handler reaches is the call graph's business.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from deployverify.gate.stubscan.symbols import FuncInfo, ModuleSymbols, Node
from deployverify.gate.stubscan.syntax import child_nodes
from deployverify.gate.stubscan.toggles import words

if TYPE_CHECKING:
    from deployverify.gate.stubscan.graph import CallGraph
    from deployverify.gate.stubscan.rule_context import RuleContext

MOCK_WORDS = frozenset({"mock", "mocks", "mocked", "stub", "stubs", "stubbed", "fake", "fakes", "faked", "dummy",
                        "dummies", "placeholder", "placeholders"})
_MOCK_TEXT = re.compile("|".join(sorted(MOCK_WORDS)))
_NEGATED_AFTER = frozenset({"free", "less"})
_NEGATED_BEFORE = frozenset({"no", "non", "not", "without", "un", "anti"})
_SUCCESS_WORDS = frozenset({"ok", "okay", "success", "successful", "succeeded", "done", "processed", "complete",
                            "completed", "accepted", "finished"})
_STATUS_KEYS = frozenset({"status", "state", "result", "outcome", "statuscode", "code", "success", "ok", "processed"})
_HEALTH_WORDS = frozenset({"health", "healthcheck", "healthz", "ping", "alive", "liveness", "readiness", "heartbeat"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
_NO_WORK_CALLS = frozenset({"print", "sleep"})


def mock_word_in(identifier: str) -> str | None:
    if not _MOCK_TEXT.search(identifier.lower()):  # every word is a piece of the name: most names hold none
        return None
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


def is_no_work(stmt: ast.stmt) -> bool:
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


def constant_tree(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Dict):
        return all(k is not None and constant_tree(k) for k in expr.keys) and all(map(constant_tree, expr.values))
    if isinstance(expr, ast.List | ast.Tuple | ast.Set):
        return all(map(constant_tree, expr.elts))
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "dumps":
        return len(expr.args) == 1 and constant_tree(expr.args[0])
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


def _constant_or_echo(expr: ast.expr, echoed: frozenset[str]) -> bool:
    """A constant tree, or (for a handler) a dict of constants that also hands its event back unchanged:
    `{"event": event, "status": "SUCCEEDED"}` says work happened and did none."""
    if constant_tree(expr) or not echoed or not isinstance(expr, ast.Dict):
        return constant_tree(expr)

    def echo_or_constant(value: ast.expr) -> bool:
        if isinstance(value, ast.Name):
            return value.id in echoed
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "dumps":
            return len(value.args) == 1 and echo_or_constant(value.args[0])
        return constant_tree(value)

    return all(k is not None and constant_tree(k) for k in expr.keys) and all(map(echo_or_constant, expr.values))


def success_without_work(fn: FuncInfo, echoed: frozenset[str] = frozenset()) -> str | None:
    """The constant a function returns when its body is only logging and that success-shaped constant. `echoed`
    names parameters the returned dict may hand back unchanged (a handler's event) and still count as no work."""
    dunder = fn.name.startswith("__") and fn.name != "__call__"  # a callable object's __call__ is its work
    if fn.module.generated or dunder:
        return None
    body = _body(fn)
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return None
    if any(w in _HEALTH_WORDS for w in words(fn.name)):  # after the body's shape: most functions fail that first
        return None
    constants: dict[str, ast.expr] = {}
    for stmt in body[:-1]:
        if is_no_work(stmt):
            continue
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and _constant_or_echo(stmt.value, echoed)):
            constants[stmt.targets[0].id] = stmt.value
            continue
        return None
    value = body[-1].value
    if isinstance(value, ast.Name) and value.id in constants:
        value = constants[value.id]
    if not _constant_or_echo(value, echoed) or not success_shaped(value):
        return None
    if isinstance(value, ast.Constant) and value.value is True and not fn.input_params():
        return None  # a constant predicate (`supports_pdf() -> True`), not a stand-in for work
    text = ast.unparse(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _raises_not_implemented(fn: FuncInfo) -> ast.Raise | None:
    if b"NotImplementedError" not in fn.module.source:  # most modules: no need to walk every reached function
        return None
    stack: list[ast.AST] = list(fn.node.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(child_nodes(node))
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

