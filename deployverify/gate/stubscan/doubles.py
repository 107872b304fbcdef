"""Does mock-named code behave like a test double? A name is evidence, not a verdict (DV301).

gRPC clients are called stubs, and `get_stub()` that builds a boto3 client is real code; `FakeS3` that keeps objects in
a dict is a double. A mock-, stub-, fake- or dummy-named function or class counts as a double when its behaviour
says so, and the first evidence found is quoted in the finding:
- it lives in a test module (tests/, test_*.py, conftest.py);
- it subclasses or wraps a test double (Mock, MagicMock, AsyncMock, patch, create_autospec);
- it returns a constant and ignores its inputs;
- it does no I/O: none of its calls (followed through first-party functions) reaches a client, file or network.
It passes when it does I/O or builds and returns a real object (a call into a library that is not pure bookkeeping).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from deployverify.gate.stubscan.bindings import Scope
from deployverify.gate.stubscan.resolver import Resolver
from deployverify.gate.stubscan.stubs import constant_tree
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo
from deployverify.gate.stubscan.syntax import child_nodes
from deployverify.gate.stubscan.values import ClassValue, FunctionValue, InstanceValue, VirtualMethodValue

TEST_DOUBLES = frozenset({"Mock", "MagicMock", "AsyncMock", "NonCallableMock", "NonCallableMagicMock", "PropertyMock",
                          "create_autospec", "patch", "mock_aws", "Stubber"})
# Calls that only compute, log or wait: a function made of nothing else does no I/O.
_PURE_CALLS = frozenset({
    "abs", "all", "any", "bool", "bytes", "callable", "chr", "dict", "divmod", "enumerate", "filter", "float",
    "format", "frozenset", "getattr", "hasattr", "hash", "id", "int", "isinstance", "issubclass", "iter", "len",
    "list", "map", "max", "min", "next", "object", "ord", "pow", "print", "range", "repr", "reversed", "round", "set",
    "setattr", "slice", "sorted", "str", "sum", "super", "tuple", "type", "vars", "zip",
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "copy", "update", "setdefault", "get", "items",
    "keys", "values", "add", "discard", "index", "count", "sort",
    "join", "split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper", "title", "replace",
    "startswith", "endswith", "encode", "decode", "zfill", "splitlines", "partition",
    "dumps", "loads", "sleep", "uuid4", "uuid1", "now", "utcnow", "today", "isoformat", "time", "monotonic",
    "random", "randint", "choice", "uniform", "timedelta", "datetime", "Decimal", "deepcopy",
    "sha1", "sha256", "sha512", "md5", "hexdigest", "digest", "b64encode", "b64decode", "quote", "unquote",
    "match", "search", "sub", "findall", "fullmatch", "floor", "ceil", "sqrt", "fromisoformat", "strftime",
    "strptime", "timestamp", "Counter", "namedtuple", "defaultdict", "OrderedDict", "deque", "asdict", "getenv",
    "debug", "info", "warning", "warn", "error", "exception", "critical", "log", "getLogger",
    "Exception", "ValueError", "KeyError", "RuntimeError", "TypeError",
})
_IO_BUILTINS = frozenset({"open", "exec", "eval", "input", "__import__", "compile"})
_MAX_FOLLOW = 6


class DoubleJudge:
    """Judges mock-named functions and classes for one handler's resolver; verdicts are cached."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._work: dict[int, bool] = {}

    def evidence(self, node: FuncInfo | ClassInfo) -> str | None:
        """Why `node` behaves like a test double, or None when it does real work."""
        module = node.module
        if module.is_test:
            return f"it lives in the test module {module.relative}"
        cls = node if isinstance(node, ClassInfo) else node.cls
        if cls is not None:
            for klass in self.resolver.mro(cls):
                double_base = sorted({n for n in klass.base_names if n in TEST_DOUBLES})
                if double_base:
                    return f"it subclasses the test double {double_base[0]}"
        functions = [node] if isinstance(node, FuncInfo) else [
            m for m in node.methods.values() if not m.name.startswith("__") or m.name in ("__init__", "__call__")]
        for fn in functions:
            wrapped = next((n for n in _called_names(fn) if n in TEST_DOUBLES), None)
            if wrapped is not None:
                return f"it wraps the test double {wrapped}()"
        for fn in functions:
            constant = _constant_ignoring_inputs(fn)
            if constant is not None and not self.does_work(fn):
                return f"it returns the constant `{constant}` and ignores its inputs"
        if not any(self.does_work(fn) for fn in functions):
            return "it does no I/O (none of its calls reaches a client, file or network)"
        return None

    def does_work(self, fn: FuncInfo, depth: int = 0) -> bool:
        key = id(fn)
        if key in self._work:
            return self._work[key]
        self._work[key] = False  # recursion: a cycle of pure functions does no work
        scope = Scope(fn.module, fn)
        found = any(self._call_works(call, scope, depth) for call in _calls(fn))
        self._work[key] = found
        return found

    def _call_works(self, call: ast.Call, scope: Scope, depth: int) -> bool:
        func = call.func
        values = self.resolver.eval(func, scope)
        first_party = False
        for value in values:
            target: FuncInfo | None = None
            if isinstance(value, FunctionValue):
                target = value.fn
            elif isinstance(value, ClassValue):
                target = self.resolver.method(value.cls, "__init__")
                first_party = True
            elif isinstance(value, InstanceValue | VirtualMethodValue):
                name = "__call__" if isinstance(value, InstanceValue) else value.attr
                target = self.resolver.method(value.cls, name)
            if target is not None:
                first_party = True
                if depth < _MAX_FOLLOW and self.does_work(target, depth + 1):
                    return True
        if first_party:
            return False
        if isinstance(func, ast.Name):
            if func.id in _IO_BUILTINS:
                return True
            return func.id not in _PURE_CALLS and self.resolver.is_bound(func.id, scope)
        if isinstance(func, ast.Attribute):
            return func.attr not in _PURE_CALLS
        return True


def _calls(fn: FuncInfo) -> Iterator[ast.Call]:
    stack: list[ast.AST] = [*fn.node.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stack.extend(child_nodes(node))


def _called_names(fn: FuncInfo) -> Iterator[str]:
    for call in _calls(fn):
        func = call.func
        if isinstance(func, ast.Name):
            yield func.id
        elif isinstance(func, ast.Attribute):
            yield func.attr


def _constant_ignoring_inputs(fn: FuncInfo) -> str | None:
    """The constant every `return` gives, when the function never reads its parameters."""
    params = {p.arg for p in fn.input_params()}
    returns: list[ast.expr] = []
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Name) and node.id in params and isinstance(node.ctx, ast.Load):
            return None
        if isinstance(node, ast.Return) and node.value is not None:
            returns.append(node.value)
    if not returns or not all(constant_tree(r) for r in returns):
        return None
    text = ast.unparse(returns[-1])
    return text if len(text) <= 60 else text[:57] + "..."
