"""What each first-party module defines (functions, classes, their qualified names and owners), read once from its
syntax tree (stdlib `ast`). How names are bound inside them is bindings.py's part.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from deployverify.gate.stubscan.bindings import (
    Binding,
    FunctionNode,
    Scope,
    collect_bindings,
    flatten,
    function_locals,
    instance_attributes,
)
from deployverify.gate.stubscan.syntax import expression_binding_lines

_GENERATED_SUFFIXES = ("_pb2", "_pb2_grpc", "_grpc")
_GENERATED_HEADER = b"DO NOT EDIT"
_DEFINING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign)  # what _Definitions reads


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
            self._locals = function_locals(self)
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
            instance_attributes(method, found)
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
    # id(def node) -> what it defines, so bindings of a def or class name point at the same object
    defined_functions: dict[int, FuncInfo] = field(default_factory=dict, repr=False)
    defined_classes: dict[int, ClassInfo] = field(default_factory=dict, repr=False)
    # global name -> the module-level container it names, or None (dispatch.container_global's answer)
    container_globals: dict[str, tuple[str, str] | None] = field(default_factory=dict, repr=False)

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
    def expression_lines(self) -> tuple[int, ...] | None:
        """Lines where an expression may bind a name (syntax.expression_binding_lines): function bodies' walks
        skip the expressions on other lines."""
        return expression_binding_lines(self.source)

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



def parse_module(name: str, path: Path, relative: str, is_package: bool, source: bytes) -> ModuleSymbols | None:
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError):
        return None
    module = ModuleSymbols(name=name, path=path, relative=relative, is_package=is_package, source=source, tree=tree)
    _Definitions(module).collect(tree.body, Scope(module), None, None, "")
    module.globals = collect_bindings(tree.body, Scope(module))
    return module


class _Definitions:
    """Walks the tree once to register every def and class with its qualified name, enclosing class and function."""

    def __init__(self, module: ModuleSymbols) -> None:
        self.module = module

    def collect(self, body: list[ast.stmt], scope: Scope, cls: ClassInfo | None, outer: FuncInfo | None,
                prefix: str) -> None:
        for stmt in flatten(body):
            if not isinstance(stmt, _DEFINING):
                continue
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                info = FuncInfo(self.module, f"{prefix}{stmt.name}", stmt, cls=cls, outer=outer)
                self.module.functions.append(info)
                self.module.defined_functions[id(stmt)] = info
                if cls is not None:
                    cls.methods.setdefault(stmt.name, info)
                self.collect(stmt.body, Scope(self.module, info), None, info, f"{info.qualname}.")
            elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                  and isinstance(stmt.value, ast.Lambda)):
                # `process = lambda event: ...` is a function by another spelling: give it one, so the rules
                # judge its body and call paths name it.
                named = _lambda_as_def(stmt.targets[0].id, stmt.value)
                info = FuncInfo(self.module, f"{prefix}{named.name}", named, cls=cls, outer=outer)
                self.module.functions.append(info)
                self.module.defined_functions[id(stmt.value)] = info
                if cls is not None:
                    cls.methods.setdefault(named.name, info)
            elif isinstance(stmt, ast.ClassDef):
                klass = ClassInfo(self.module, f"{prefix}{stmt.name}", stmt, outer=outer)
                self.module.classes.append(klass)
                self.module.defined_classes[id(stmt)] = klass
                self.collect(stmt.body, scope, klass, outer, f"{klass.qualname}.")
                klass.class_attrs = collect_bindings(stmt.body, scope, class_body=True)


def _lambda_as_def(name: str, value: ast.Lambda) -> ast.FunctionDef:
    """A `def` with the lambda's parameters whose body returns the lambda's expression (the same nodes)."""
    body: list[ast.stmt] = [ast.copy_location(ast.Return(value=value.body), value.body)]
    named = ast.FunctionDef(name=name, args=value.args, body=body, decorator_list=[], returns=None)
    return ast.copy_location(named, value)
