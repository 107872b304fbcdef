"""How names get their values, read from the syntax tree: a binding records how a name is bound (a def, a class, an
import, an assignment, a loop variable, a parameter), not the value itself. The resolver evaluates bindings lazily
and only for names that reached code actually uses; a function's locals and a class's `self.x` attributes are
read on first use for the same reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from deployverify.gate.stubscan.syntax import child_nodes, may_bind

if TYPE_CHECKING:  # the definitions hold their bindings; bindings only point back at them
    from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, ModuleSymbols

BindingKind = Literal["func", "class", "module", "from", "expr", "iter", "param", "with", "unknown"]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)
_NOT_ENTERED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# The nodes collect_bindings reads; a function body's walk yields many more, which it skips by this test alone.
_BINDERS = frozenset({ast.Global, ast.Nonlocal, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                      ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.With,
                      ast.AsyncWith, ast.comprehension, ast.ExceptHandler})


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


def resolve_relative(package: str, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    parts = package.split(".") if package else []
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{module}" if module and base else (module or base)



def instance_attributes(method: FuncInfo, attrs: dict[str, list[Binding]]) -> None:
    params = method.params()
    if not params or method.is_static:
        return
    receiver = params[0].arg
    scope = Scope(method.module, method)
    for node in _walk_function_body(method.node, ()):  # `self.x = ...` is a statement
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


def flatten(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements of a block, including those nested in if/try/with/for/while (same scope), not in defs."""
    found: list[ast.stmt] = []
    _flatten_into(body, found)
    return found


def _flatten_into(body: list[ast.stmt], found: list[ast.stmt]) -> None:
    for stmt in body:
        found.append(stmt)
        if not isinstance(stmt, _BLOCKS):
            continue
        if isinstance(stmt, ast.If | ast.For | ast.AsyncFor | ast.While):
            _flatten_into(stmt.body, found)
            _flatten_into(stmt.orelse, found)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            _flatten_into(stmt.body, found)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            _flatten_into(stmt.body, found)
            for handler in stmt.handlers:
                _flatten_into(handler.body, found)
            _flatten_into(stmt.orelse, found)
            _flatten_into(stmt.finalbody, found)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                _flatten_into(case.body, found)


def _walk_function_body(node: FunctionNode, expression_lines: Sequence[int] | None) -> Iterator[ast.AST]:
    """The nodes of a function's own body that may bind a name, in `ast.walk`'s depth-first order: every statement
    (nested defs, classes and lambdas are yielded but not entered) and the expressions that may hold a
    comprehension or `:=` (syntax.may_bind); with no `expression_lines`, statements only."""
    stack: list[ast.AST] = list(reversed(node.body))
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, ast.stmt) and not isinstance(current, _BLOCKS) and not may_bind(current,
                                                                                               expression_lines):
            continue  # a simple statement holds only expressions, and none of them can bind here
        if not isinstance(current, _NOT_ENTERED):
            children = [c for c in child_nodes(current)
                        if not isinstance(c, ast.expr) or may_bind(c, expression_lines)]
            children.reverse()
            stack.extend(children)


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


def collect_bindings(body: list[ast.stmt], scope: Scope, *, class_body: bool = False) -> dict[str, list[Binding]]:
    bindings: dict[str, list[Binding]] = {}
    module = scope.module
    declared_global: set[str] = set()
    statements: Iterator[ast.AST]
    if scope.func is not None and not class_body:
        statements = _walk_function_body(scope.func.node, module.expression_lines)
    else:
        statements = iter(flatten(body))
    for stmt in statements:
        if stmt.__class__ not in _BINDERS:
            continue
        if isinstance(stmt, ast.Global | ast.Nonlocal):
            declared_global.update(stmt.names)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            info = module.defined_functions.get(id(stmt))
            if info is not None:
                bindings.setdefault(stmt.name, []).append(Binding("func", scope, node=stmt, func=info))
        elif isinstance(stmt, ast.ClassDef):
            klass = module.defined_classes.get(id(stmt))
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




def function_locals(func: FuncInfo) -> dict[str, list[Binding]]:
    scope = Scope(func.module, func)
    bindings = collect_bindings(func.node.body, scope)
    for index, param in enumerate(func.params()):
        bindings.setdefault(param.arg, []).insert(0, Binding("param", scope, node=param, func=func, index=index))
    return bindings
