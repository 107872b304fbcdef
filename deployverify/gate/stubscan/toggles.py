"""Mock toggles: flags such as USE_MOCK, STUB, FAKE or DRY_RUN, evaluated as the deployed function will see them.

A test such as `if os.environ.get("USE_MOCK", "true") == "true":` is folded to a constant using the function's
declared environment (target `functions[].environment`) and, for anything it does not set, the default written in
the code. Only tests that read a toggle-named flag are folded; anything else stays unknown, and both branches count.
The call graph then follows only the branch the deployed function takes, and DV305 reports a toggle whose taken
branch leads to a mock.
"""

from __future__ import annotations

import ast
import itertools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from deployverify.gate.stubscan.bindings import Binding, Scope
from deployverify.gate.stubscan.program import Program
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo
from deployverify.gate.stubscan.values import ClassValue, FunctionValue, InstanceValue, ModuleValue, Values

_TOGGLE_WORDS = frozenset({"mock", "mocks", "mocked", "mocking", "stub", "stubs", "stubbed", "fake", "fakes", "faked",
                           "dummy", "dryrun", "noop", "simulate", "simulated", "simulation", "placeholder"})
_TOGGLE_PAIRS = frozenset({("dry", "run"), ("no", "op"), ("test", "mode")})
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_ENV_OBJECTS = frozenset({"environ", "env"})
_STR_METHODS: dict[str, Callable[[str], Any]] = {"lower": str.lower, "upper": str.upper, "strip": str.strip,
                                                 "casefold": str.casefold, "title": str.title}
_CONVERTERS: dict[str, Callable[[Any], Any]] = {"bool": bool, "int": int, "str": str, "float": float}
_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def words(identifier: str) -> list[str]:
    """`USE_MOCK` -> [use, mock]; `MockS3Client` -> [mock, s, 3, client]; `mock_free_parse` -> [mock, free, parse]."""
    return [w.lower() for part in re.split(r"[_\W]+", identifier) for w in _WORD.findall(part)]


def is_toggle_name(identifier: str) -> bool:
    tokens = words(identifier)
    return any(t in _TOGGLE_WORDS for t in tokens) or any(pair in _TOGGLE_PAIRS for pair in itertools.pairwise(tokens))


@dataclass(frozen=True)
class FlagRead:
    name: str
    default: str  # as the message quotes it
    module: str
    line: int
    from_environment: bool = False  # the target's functions[].environment set it, not the code's default


@dataclass(frozen=True)
class Fold:
    value: bool
    flags: tuple[FlagRead, ...]


Result = tuple[Any, tuple[FlagRead, ...]]


class ExpressionValues(Protocol):
    """What folding needs from the resolver (which owns the evaluator): the values an expression may denote, a
    class's method resolution order, and the program's modules."""

    program: Program

    def eval(self, expr: ast.expr, scope: Scope) -> Values: ...

    def mro(self, cls: ClassInfo) -> tuple[ClassInfo, ...]: ...


class ToggleEvaluator:
    """Folds `if` tests that read mock toggles; remembers each fold so DV305 can quote the flag."""

    def __init__(self, resolver: ExpressionValues, environment: Mapping[str, str]) -> None:
        self.resolver = resolver
        self.environment = dict(environment)
        self.folds: dict[int, Fold] = {}
        self._cache: dict[tuple[int, int], bool | None] = {}
        self._depth = 0

    def fold(self, test: ast.expr, scope: Scope) -> bool | None:
        key = (id(test), id(scope.func) if scope.func is not None else id(scope.module))
        if key in self._cache:
            return self._cache[key]
        value, flags = self.const(test, scope, {})
        folded: bool | None = None
        if value is not UNKNOWN and flags:
            try:
                folded = bool(value)
            except Exception:
                folded = None
        if folded is not None:
            self.folds[id(test)] = Fold(folded, flags)
        self._cache[key] = folded
        return folded

    # -- constant evaluation

    def const(self, expr: ast.expr, scope: Scope, params: Mapping[str, Any]) -> Result:
        if self._depth > 40:
            return UNKNOWN, ()
        self._depth += 1
        try:
            return self._const(expr, scope, params)
        except Exception:
            return UNKNOWN, ()
        finally:
            self._depth -= 1

    def _const(self, expr: ast.expr, scope: Scope, params: Mapping[str, Any]) -> Result:
        if isinstance(expr, ast.Constant):
            return expr.value, ()
        if isinstance(expr, ast.Name):
            if expr.id in params:
                return params[expr.id], ()
            return self._name(expr.id, scope)
        if isinstance(expr, ast.Attribute):
            return self._attribute(expr, scope)
        if isinstance(expr, ast.Call):
            return self._call(expr, scope, params)
        if isinstance(expr, ast.Subscript):
            return self._subscript(expr, scope, params)
        if isinstance(expr, ast.Compare):
            return self._compare(expr, scope, params)
        if isinstance(expr, ast.BoolOp):
            return self._boolop(expr, scope, params)
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            value, flags = self.const(expr.operand, scope, params)
            return (UNKNOWN if value is UNKNOWN else not value), flags
        if isinstance(expr, ast.IfExp):
            test, flags = self.const(expr.test, scope, params)
            if test is UNKNOWN:
                return UNKNOWN, ()
            value, more = self.const(expr.body if test else expr.orelse, scope, params)
            return value, flags + more
        if isinstance(expr, ast.Tuple | ast.List | ast.Set):
            items = [self.const(e, scope, params) for e in expr.elts]
            if any(v is UNKNOWN for v, _ in items):
                return UNKNOWN, ()
            values = [v for v, _ in items]
            return (tuple(values) if not isinstance(expr, ast.Set) else frozenset(values)), ()
        if isinstance(expr, ast.Dict):
            result: dict[Any, Any] = {}
            for key, value in zip(expr.keys, expr.values, strict=True):
                if key is None:
                    return UNKNOWN, ()
                k, _ = self.const(key, scope, params)
                v, _ = self.const(value, scope, params)
                result[k] = v
            return result, ()
        return UNKNOWN, ()

    def _bindings(self, name: str, scope: Scope) -> list[Binding]:
        func = scope.func
        while func is not None:
            found = func.locals().get(name)
            if found:
                return found
            func = func.outer
        return scope.module.globals.get(name, [])

    def _name(self, name: str, scope: Scope) -> Result:
        bindings = self._bindings(name, scope)
        if len(bindings) != 1:
            return UNKNOWN, ()
        binding = bindings[0]
        if binding.kind == "from":
            module = self.resolver.program.module(binding.target)
            if module is None:
                return UNKNOWN, ()
            return self._name(binding.name, Scope(module))
        if binding.kind != "expr" or not isinstance(binding.node, ast.expr):
            return UNKNOWN, ()
        value, flags = self.const(binding.node, binding.scope, {})
        if value is not UNKNOWN and is_toggle_name(name) and not flags:
            flags = (FlagRead(name, repr(value), binding.scope.module.name, binding.node.lineno),)
        return value, flags

    def _attribute(self, expr: ast.Attribute, scope: Scope) -> Result:
        for value in self.resolver.eval(expr.value, scope):
            if isinstance(value, ModuleValue):
                module = self.resolver.program.module(value.name)
                if module is not None:
                    return self._name(expr.attr, Scope(module))
            if isinstance(value, InstanceValue | ClassValue):
                return self._class_default(value.cls, expr.attr)
        return UNKNOWN, ()

    def _class_default(self, cls: ClassInfo, attr: str) -> Result:
        for klass in self.resolver.mro(cls):
            bindings = klass.class_attrs.get(attr)
            if not bindings:
                continue
            if len(bindings) != 1 or bindings[0].kind != "expr" or not isinstance(bindings[0].node, ast.expr):
                return UNKNOWN, ()
            node = bindings[0].node
            value, flags = self.const(node, bindings[0].scope, {})
            if value is UNKNOWN or not is_toggle_name(attr):
                return value, flags
            # Settings classes (pydantic BaseSettings and the like) read an environment variable of the same name.
            for env_name in (attr, attr.upper()):
                if env_name in self.environment:
                    raw = self.environment[env_name]
                    parsed = raw.strip().lower() in _TRUE_WORDS if isinstance(value, bool) else raw
                    return parsed, (FlagRead(attr, repr(raw), klass.module.name, node.lineno, True),)
            return value, flags or (FlagRead(attr, repr(value), klass.module.name, node.lineno),)
        return UNKNOWN, ()

    def _call(self, call: ast.Call, scope: Scope, params: Mapping[str, Any]) -> Result:
        func = call.func
        env_read = self._env_read(call, scope, params)
        if env_read is not None:
            return env_read
        if isinstance(func, ast.Attribute) and func.attr in _STR_METHODS and not call.args:
            value, flags = self.const(func.value, scope, params)
            return (_STR_METHODS[func.attr](value) if isinstance(value, str) else UNKNOWN), flags
        if isinstance(func, ast.Attribute) and func.attr == "get" and call.args:
            base, flags = self.const(func.value, scope, params)
            key, _ = self.const(call.args[0], scope, params)
            default = self.const(call.args[1], scope, params)[0] if len(call.args) > 1 else None
            if isinstance(base, dict) and key is not UNKNOWN:
                return base.get(key, default), flags
            if isinstance(key, str) and is_toggle_name(key) and default is not UNKNOWN:
                return default, (FlagRead(key, repr(default), scope.module.name, call.lineno),)
            return UNKNOWN, ()
        if isinstance(func, ast.Name) and func.id in _CONVERTERS and len(call.args) == 1 and not self._bound(func.id,
                                                                                                         scope):
            value, flags = self.const(call.args[0], scope, params)
            return (_CONVERTERS[func.id](value) if value is not UNKNOWN else UNKNOWN), flags
        return self._helper(call, scope, params)

    def _bound(self, name: str, scope: Scope) -> bool:
        return bool(self._bindings(name, scope))

    def _env_read(self, call: ast.Call, scope: Scope, params: Mapping[str, Any]) -> Result | None:
        func = call.func
        is_getenv = (isinstance(func, ast.Name) and func.id == "getenv") or (
            isinstance(func, ast.Attribute) and func.attr == "getenv")
        is_environ_get = isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)
        if not (is_getenv or is_environ_get) or not call.args:
            return None
        key, _ = self.const(call.args[0], scope, params)
        if not isinstance(key, str):
            return UNKNOWN, ()
        default_node = call.args[1] if len(call.args) > 1 else next(
            (k.value for k in call.keywords if k.arg == "default"), None)
        default = self.const(default_node, scope, params)[0] if default_node is not None else None
        toggle = is_toggle_name(key)
        flags: tuple[FlagRead, ...] = ()
        if key in self.environment:
            if toggle:
                flags = (FlagRead(key, repr(self.environment[key]), scope.module.name, call.lineno, True),)
            return self.environment[key], flags
        if default is UNKNOWN:
            return UNKNOWN, ()
        if toggle:
            flags = (FlagRead(key, repr(default), scope.module.name, call.lineno),)
        return default, flags

    def _subscript(self, expr: ast.Subscript, scope: Scope, params: Mapping[str, Any]) -> Result:
        key, _ = self.const(expr.slice, scope, params)
        if _is_environ(expr.value):
            if isinstance(key, str) and key in self.environment:
                read = (FlagRead(key, repr(self.environment[key]), scope.module.name, expr.lineno, True),)
                return self.environment[key], read if is_toggle_name(key) else ()
            return UNKNOWN, ()
        base, more = self.const(expr.value, scope, params)
        if isinstance(base, dict) and key in base:
            return base[key], more
        return UNKNOWN, ()

    def _compare(self, expr: ast.Compare, scope: Scope, params: Mapping[str, Any]) -> Result:
        left, flags = self.const(expr.left, scope, params)
        if (len(expr.ops) == 1 and isinstance(expr.ops[0], ast.In | ast.NotIn) and _is_environ(expr.comparators[0])
                and isinstance(left, str)):
            present = left in self.environment
            read = (FlagRead(left, "unset", scope.module.name, expr.lineno, present),) if is_toggle_name(left) else ()
            return (present if isinstance(expr.ops[0], ast.In) else not present), flags + read
        result: Any = True
        for op, comparator in zip(expr.ops, expr.comparators, strict=True):
            right, more = self.const(comparator, scope, params)
            flags += more
            if left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN, ()
            result = _COMPARE[type(op)](left, right)
            if not result:
                return False, flags
            left = right
        return result, flags

    def _boolop(self, expr: ast.BoolOp, scope: Scope, params: Mapping[str, Any]) -> Result:
        is_and = isinstance(expr.op, ast.And)
        flags: tuple[FlagRead, ...] = ()
        unknown = False
        last: Any = None
        for operand in expr.values:
            value, more = self.const(operand, scope, params)
            if value is UNKNOWN:
                unknown = True
                continue
            flags += more
            last = value
            if is_and and not value:
                return value, flags
            if not is_and and value:
                return value, flags
        return (UNKNOWN, ()) if unknown else (last, flags)

    def _helper(self, call: ast.Call, scope: Scope, params: Mapping[str, Any]) -> Result:
        """A first-party helper like `env_flag("USE_MOCK", True)` whose body is one `return`: evaluate it inline."""
        for value in self.resolver.eval(call.func, scope):
            if not isinstance(value, FunctionValue):
                continue
            fn = value.fn
            body = [s for s in fn.node.body if not _is_docstring(s)]
            if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
                continue
            bound = _bind_arguments(fn, call, lambda e: self.const(e, scope, params)[0])
            if bound is None:
                continue
            return self.const(body[0].value, Scope(fn.module, fn), bound)
        return UNKNOWN, ()


def _is_environ(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Attribute) and expr.attr in _ENV_OBJECTS) or (
        isinstance(expr, ast.Name) and expr.id == "environ")


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _bind_arguments(fn: FuncInfo, call: ast.Call, evaluate: Callable[[ast.expr], Any]) -> dict[str, Any] | None:
    args = fn.node.args
    positional = [*args.posonlyargs, *args.args]
    bound: dict[str, Any] = {}
    offset = len(positional) - len(args.defaults)
    for index, param in enumerate(positional):
        if index >= offset:
            bound[param.arg] = evaluate(args.defaults[index - offset])
    for param, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is not None:
            bound[param.arg] = evaluate(default)
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred) or index >= len(positional):
            return None
        bound[positional[index].arg] = evaluate(arg)
    for keyword in call.keywords:
        if keyword.arg is None:
            return None
        bound[keyword.arg] = evaluate(keyword.value)
    return bound
