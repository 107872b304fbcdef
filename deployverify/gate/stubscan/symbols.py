"""What each first-party module defines and binds, read once from its syntax tree (stdlib `ast`).

A binding records how a name gets its value (a def, a class, an import, an assignment, a loop variable), not the
value itself: the call graph evaluates bindings lazily and only for names that reached code actually uses.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

BindingKind = Literal["func", "class", "module", "from", "expr", "iter", "param", "with", "unknown"]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_GENERATED_SUFFIXES = ("_pb2", "_pb2_grpc", "_grpc")
_GENERATED_HEADER = b"DO NOT EDIT"


@dataclass(frozen=True, eq=False)
class Binding:
    kind: BindingKind
    scope: Scope
    node: ast.AST | None = None  # the value expression, the param's ast.arg, the def or class
    target: str = ""  # module for "module"/"from"
    name: str = ""  # imported name for "from"
    func: FuncInfo | None = None
    cls: ClassInfo | None = None
    index: int = 0  # positional index of a parameter


@dataclass(frozen=True, eq=False)
class Scope:
    module: ModuleSymbols
    func: FuncInfo | None = None


class _Definition:
    """What functions and classes share: where they are defined and how they are named in findings."""

    module: ModuleSymbols
    qualname: str
    node: FunctionNode | ast.ClassDef

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def id(self) -> str:
        return f"{self.module.name}:{self.qualname}"

    @property
    def dotted(self) -> str:
        return f"{self.module.name}.{self.qualname}"

    @property
    def display(self) -> str:
        return self.qualname

    @property
    def line(self) -> int:
        return self.node.lineno

    @property
    def lines(self) -> int:
        return (self.node.end_lineno or self.node.lineno) - self.node.lineno + 1


@dataclass(eq=False)
class FuncInfo(_Definition):
    module: ModuleSymbols
    qualname: str
    node: FunctionNode
    cls: ClassInfo | None = None  # the class it is a method of
    outer: FuncInfo | None = None  # the function it is nested in
    _locals: dict[str, list[Binding]] | None = field(default=None, repr=False)

    @cached_property
    def decorators(self) -> frozenset[str]:
        return frozenset(_dotted_tail(d) for d in self.node.decorator_list)

    @property
    def is_method(self) -> bool:
        return self.cls is not None

    @property
    def is_static(self) -> bool:
        return "staticmethod" in self.decorators

    @property
    def is_classmethod(self) -> bool:
        return "classmethod" in self.decorators

    @property
    def is_property(self) -> bool:
        return bool(self.decorators & {"property", "cached_property"})

    def params(self) -> list[ast.arg]:
        a = self.node.args
        return [*a.posonlyargs, *a.args, *([a.vararg] if a.vararg else []), *a.kwonlyargs,
                *([a.kwarg] if a.kwarg else [])]

    def input_params(self) -> list[ast.arg]:
        """Parameters other than the receiver (`self`/`cls`) of a method."""
        params = self.params()
        if self.cls is not None and not self.is_static and params:
            params = params[1:]
        return params

    def locals(self) -> dict[str, list[Binding]]:
        if self._locals is None:
            self._locals = _function_locals(self)
        return self._locals


@dataclass(eq=False)
class ClassInfo(_Definition):
    module: ModuleSymbols
    qualname: str
    node: ast.ClassDef
    outer: FuncInfo | None = None
    methods: dict[str, FuncInfo] = field(default_factory=dict)
    class_attrs: dict[str, list[Binding]] = field(default_factory=dict)

    @cached_property
    def instance_attrs(self) -> dict[str, list[Binding]]:
        """`self.x = ...` in any method, read on first use: most classes never have an attribute looked up."""
        found: dict[str, list[Binding]] = {}
        for method in self.methods_in_order:
            _instance_attrs(method, found)
        return found

    @property
    def methods_in_order(self) -> list[FuncInfo]:
        return [f for f in self.module.functions if f.cls is self]

    @cached_property
    def base_names(self) -> frozenset[str]:
        return frozenset(_dotted_tail(b) for b in self.node.bases) | frozenset(
            _dotted_tail(k.value) for k in self.node.keywords if k.arg == "metaclass")


@dataclass(eq=False)
class ModuleSymbols:
    name: str
    path: Path
    relative: str  # path relative to the root it was found under, with forward slashes
    is_package: bool
    source: bytes
    tree: ast.Module
    globals: dict[str, list[Binding]] = field(default_factory=dict)
    functions: list[FuncInfo] = field(default_factory=list)
    classes: list[ClassInfo] = field(default_factory=list)
    defined: dict[int, FuncInfo | ClassInfo] = field(default_factory=dict, repr=False)  # id(def node) -> info

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def display(self) -> str:
        return f"import {self.name}"

    @property
    def line(self) -> int:
        return 1

    @cached_property
    def lines(self) -> int:
        return self.source.count(b"\n") + (0 if self.source.endswith(b"\n") or not self.source else 1)

    @cached_property
    def generated(self) -> bool:
        """gRPC/protobuf output: real client code whose `*Stub` classes and servicer placeholders are by design."""
        leaf = self.name.rpartition(".")[2]
        return leaf.endswith(_GENERATED_SUFFIXES) or _GENERATED_HEADER in self.source[:600]

    @cached_property
    def is_test(self) -> bool:
        parts = self.relative.split("/")
        leaf = parts[-1]
        return (leaf.startswith("test_") or leaf.endswith("_test.py") or leaf == "conftest.py"
                or any(p in ("tests", "test", "testing") for p in parts[:-1]))

    def top_level_functions_and_methods(self) -> Iterator[FuncInfo]:
        return (f for f in self.functions if f.outer is None)


Node = FuncInfo | ClassInfo | ModuleSymbols


def _dotted_tail(expr: ast.expr) -> str:
    while isinstance(expr, ast.Call):
        expr = expr.func
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Subscript):
        return _dotted_tail(expr.value)
    return ""


def resolve_relative(package: str, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    parts = package.split(".") if package else []
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{module}" if module and base else (module or base)


def parse_module(name: str, path: Path, relative: str, is_package: bool, source: bytes) -> ModuleSymbols | None:
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError):
        return None
    module = ModuleSymbols(name=name, path=path, relative=relative, is_package=is_package, source=source, tree=tree)
    _Definitions(module).collect(tree.body, Scope(module), None, None, "")
    module.globals = _collect_bindings(tree.body, Scope(module))
    return module


class _Definitions:
    """Walks the tree once to register every def and class with its qualified name, enclosing class and function."""

    def __init__(self, module: ModuleSymbols) -> None:
        self.module = module

    def collect(self, body: list[ast.stmt], scope: Scope, cls: ClassInfo | None, outer: FuncInfo | None,
                prefix: str) -> None:
        for stmt in _flatten(body):
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                info = FuncInfo(self.module, f"{prefix}{stmt.name}", stmt, cls=cls, outer=outer)
                self.module.functions.append(info)
                self.module.defined[id(stmt)] = info
                if cls is not None:
                    cls.methods.setdefault(stmt.name, info)
                self.collect(stmt.body, Scope(self.module, info), None, info, f"{info.qualname}.")
            elif isinstance(stmt, ast.ClassDef):
                klass = ClassInfo(self.module, f"{prefix}{stmt.name}", stmt, outer=outer)
                self.module.classes.append(klass)
                self.module.defined[id(stmt)] = klass
                self.collect(stmt.body, scope, klass, outer, f"{klass.qualname}.")
                klass.class_attrs = _collect_bindings(stmt.body, scope, class_body=True)


def _instance_attrs(method: FuncInfo, attrs: dict[str, list[Binding]]) -> None:
    params = method.params()
    if not params or method.is_static:
        return
    receiver = params[0].arg
    scope = Scope(method.module, method)
    for node in _walk_function_body(method.node):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
            if value is None and _is_attr_of(node.target, receiver):
                assert isinstance(node.target, ast.Attribute)
                attrs.setdefault(node.target.attr, []).append(
                    Binding("param", scope, node=node.annotation))
                continue
        for target in targets:
            if value is not None and _is_attr_of(target, receiver):
                assert isinstance(target, ast.Attribute)
                attrs.setdefault(target.attr, []).append(Binding("expr", scope, node=value))


def _is_attr_of(target: ast.expr, receiver: str) -> bool:
    return isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == receiver


def _flatten(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a block, including those nested in if/try/with/for/while (same scope), not in defs."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If | ast.For | ast.AsyncFor | ast.While):
            yield from _flatten(stmt.body)
            yield from _flatten(stmt.orelse)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            yield from _flatten(stmt.body)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            yield from _flatten(stmt.body)
            for handler in stmt.handlers:
                yield from _flatten(handler.body)
            yield from _flatten(stmt.orelse)
            yield from _flatten(stmt.finalbody)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                yield from _flatten(case.body)


def _walk_function_body(node: FunctionNode) -> Iterator[ast.AST]:
    """Every node of a function's own body; nested defs, classes and lambdas are yielded but not entered."""
    stack: list[ast.AST] = list(reversed(node.body))
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(reversed(list(ast.iter_child_nodes(current))))


def _bind_target(bindings: dict[str, list[Binding]], target: ast.expr, value: ast.expr | None, scope: Scope,
                 kind: BindingKind = "expr") -> None:
    if isinstance(target, ast.Name):
        if value is None:
            bindings.setdefault(target.id, []).append(Binding("unknown", scope))
        else:
            bindings.setdefault(target.id, []).append(Binding(kind, scope, node=value))
    elif isinstance(target, ast.Tuple | ast.List):
        elements = value.elts if isinstance(value, ast.Tuple | ast.List) and kind == "expr" else None
        for index, element in enumerate(target.elts):
            element_value = elements[index] if elements is not None and index < len(elements) else None
            if isinstance(element, ast.Starred):
                element = element.value
                element_value = None
            if kind == "iter" and value is not None:
                _bind_target(bindings, element, value, scope, "iter")
            else:
                _bind_target(bindings, element, element_value, scope)


def _collect_bindings(body: list[ast.stmt], scope: Scope, *, class_body: bool = False) -> dict[str, list[Binding]]:
    bindings: dict[str, list[Binding]] = {}
    module = scope.module
    declared_global: set[str] = set()
    statements: Iterator[ast.AST]
    if scope.func is not None and not class_body:
        statements = _walk_function_body(scope.func.node)
    else:
        statements = iter(_flatten(body))
    for stmt in statements:
        if isinstance(stmt, ast.Global | ast.Nonlocal):
            declared_global.update(stmt.names)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            info = _find_function(module, stmt)
            if info is not None:
                bindings.setdefault(stmt.name, []).append(Binding("func", scope, node=stmt, func=info))
        elif isinstance(stmt, ast.ClassDef):
            klass = _find_class(module, stmt)
            if klass is not None:
                bindings.setdefault(stmt.name, []).append(Binding("class", scope, node=stmt, cls=klass))
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    bindings.setdefault(alias.asname, []).append(Binding("module", scope, target=alias.name))
                else:
                    top = alias.name.split(".")[0]
                    bindings.setdefault(top, []).append(Binding("module", scope, target=top))
        elif isinstance(stmt, ast.ImportFrom):
            source = resolve_relative(module.package, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                bindings.setdefault(alias.asname or alias.name, []).append(
                    Binding("from", scope, target=source, name=alias.name))
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                _bind_target(bindings, target, stmt.value, scope)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                _bind_target(bindings, stmt.target, stmt.value, scope)
            elif isinstance(stmt.target, ast.Name):
                bindings.setdefault(stmt.target.id, []).append(Binding("param", scope, node=stmt.annotation))
        elif isinstance(stmt, ast.NamedExpr):
            _bind_target(bindings, stmt.target, stmt.value, scope)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            _bind_target(bindings, stmt.target, stmt.iter, scope, "iter")
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    _bind_target(bindings, item.optional_vars, item.context_expr, scope, "with")
        elif isinstance(stmt, ast.comprehension):
            _bind_target(bindings, stmt.target, stmt.iter, scope, "iter")
        elif isinstance(stmt, ast.ExceptHandler) and stmt.name:
            bindings.setdefault(stmt.name, []).append(Binding("unknown", scope))
    for name in declared_global:
        bindings.pop(name, None)
    return bindings


def _find_function(module: ModuleSymbols, node: ast.AST) -> FuncInfo | None:
    info = module.defined.get(id(node))
    return info if isinstance(info, FuncInfo) else None


def _find_class(module: ModuleSymbols, node: ast.AST) -> ClassInfo | None:
    info = module.defined.get(id(node))
    return info if isinstance(info, ClassInfo) else None


def _function_locals(func: FuncInfo) -> dict[str, list[Binding]]:
    scope = Scope(func.module, func)
    bindings = _collect_bindings(func.node.body, scope)
    for index, param in enumerate(func.params()):
        bindings.setdefault(param.arg, []).insert(0, Binding("param", scope, node=param, func=func, index=index))
    return bindings
