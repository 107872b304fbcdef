"""What each handler actually reaches: a call graph over the target's own (first-party) code.

Library choice (evaluated before writing this; measured on pydantic's 106 source files, same machine, one run):
    ast.parse 1.44 s (the floor) | parso, jedi's parser 6.1 s (4.3x) | libcst.parse_module 7.0 s (4.8x)
    | libcst + ScopeProvider 25.5 s (17.7x) | astroid.parse 6.1 s (4.2x, before any inference)
- astroid infers well (it resolves `get_processor().process` to `MockProcessor.process`), but its parse alone is 4x
  the floor and its inference follows imports into third-party packages (boto3, botocore ...) unless each is blocked,
  which breaks both "third-party code is not walked" and the <= 1x parse-floor budget.
- jedi answers one position at a time (goto/infer per call site) on top of parso, walks site-packages for imports,
  and is built for editors: thousands of call sites per bundle means seconds, not milliseconds.
- libcst's scope analysis resolves names inside one module only; it does no cross-module, attribute or call
  resolution, so the part we need would still be ours, on a parser 5x slower and a scope pass 18x slower.
So resolution is written here on the stdlib `ast` (already the import index's parser), parses each first-party file
once, and never opens third-party code. It is deliberately small and over-approximating where Python is dynamic:
a reference to a function counts as reaching it (callbacks, `partial`, dispatch tables), containers yield all their
elements, and a method call on a value whose class is only known as a base dispatches to that class and to every
subclass the reached code instantiates (rapid type analysis). Constant mock toggles (see toggles.py) prune branches.

Covered: direct calls; imported names, module aliases, `from . import`; instances and their methods (locals,
annotations, `self`, `__init__` attributes, dataclass fields, `super()`); functions passed as values; dispatch tables
and `.get(...)`; factories; properties; `getattr(obj, "name")`, `importlib.import_module("name")`, `partial(f, ...)`,
named lambdas (symbols.py makes them functions); third-party objects the scan knows by import name (dispatch.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping

from deployverify.gate.stubscan.bindings import Binding, Scope
from deployverify.gate.stubscan.dispatch import external_call, external_name
from deployverify.gate.stubscan.program import Program
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo
from deployverify.gate.stubscan.syntax import child_nodes
from deployverify.gate.stubscan.toggles import ToggleEvaluator
from deployverify.gate.stubscan.values import (
    EMPTY,
    ClassValue,
    ContainerMethodValue,
    ContainerValue,
    FunctionValue,
    InstanceValue,
    ModuleValue,
    SuperValue,
    Value,
    Values,
    VirtualMethodValue,
    union_of,
)

_CONTAINER_METHODS = frozenset({"get", "pop", "values", "items", "setdefault", "copy", "__getitem__"})
_PASSTHROUGH_BUILTINS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "reversed", "iter", "dict",
                                   "staticmethod", "classmethod", "partial", "wraps", "cache", "lru_cache"})
_MAX_DEPTH = 60


class Resolver:
    """Evaluates expressions to the first-party functions, classes, instances and modules they may denote.

    It owns the handler's ToggleEvaluator: `x if USE_MOCK else y` resolves to one branch when the toggle folds, and
    folding a toggle needs this resolver (imported flags, class defaults, helper functions). The evaluator sees the
    resolver only through toggles.ExpressionValues, so neither module imports the other's class.
    """

    def __init__(self, program: Program, environment: Mapping[str, str]) -> None:
        self.program = program
        self.toggles = ToggleEvaluator(self, environment)
        self._memo: dict[tuple[int, int], Values] = {}
        self._busy: set[tuple[int, int]] = set()
        self._returns: dict[int, Values] = {}
        self._mro: dict[int, tuple[ClassInfo, ...]] = {}
        self._module_attr: dict[tuple[str, str], Values] = {}
        self._depth = 0

    # -- names

    def eval(self, expr: ast.expr, scope: Scope) -> Values:
        func = scope.func  # (expression, function or module): eval runs tens of thousands of times a scan
        key = id(expr), id(func) if func is not None else id(scope.module)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        if key in self._busy or self._depth > _MAX_DEPTH:
            return EMPTY
        self._busy.add(key)
        self._depth += 1
        try:
            result = self._eval(expr, scope)
        finally:
            self._depth -= 1
            self._busy.discard(key)
        self._memo[key] = result
        return result

    def lookup(self, name: str, scope: Scope) -> Values:
        bindings = self.bindings_of(name, scope)
        if len(bindings) == 1:  # most names: union_of's answer without its generator
            return self.binding_values(bindings[0]) or EMPTY
        return union_of(self.binding_values(b) for b in bindings)

    def bindings_of(self, name: str, scope: Scope) -> list[Binding]:
        func = scope.func
        while func is not None:
            bindings = func.locals().get(name)
            if bindings:
                return bindings
            func = func.outer
        return scope.module.globals.get(name) or []

    def is_bound(self, name: str, scope: Scope) -> bool:
        func = scope.func
        while func is not None:
            if name in func.locals():
                return True
            func = func.outer
        return name in scope.module.globals

    def binding_values(self, binding: Binding) -> Values:
        kind = binding.kind
        if kind == "func" and binding.func is not None:
            return frozenset({FunctionValue(binding.func)})
        if kind == "class" and binding.cls is not None:
            return frozenset({ClassValue(binding.cls)})
        if kind == "module":
            return frozenset({ModuleValue(binding.target)}) if self.program.is_first_party(binding.target) else EMPTY
        if kind == "from":
            return self.imported(binding.target, binding.name)
        if kind == "expr" and isinstance(binding.node, ast.expr):
            return self.eval(binding.node, binding.scope)
        if kind == "iter" and isinstance(binding.node, ast.expr):
            return self.elements(self.eval(binding.node, binding.scope))
        if kind == "with" and isinstance(binding.node, ast.expr):
            return self.eval(binding.node, binding.scope)
        if kind == "param":
            return self._param_values(binding)
        return EMPTY

    def imported(self, module: str, name: str) -> Values:
        submodule = f"{module}.{name}"
        found = self.module_attr(module, name) if self.program.module(module) is not None else EMPTY
        if self.program.is_first_party(submodule):
            found = found | {ModuleValue(submodule)}
        return found

    def module_attr(self, module: str, attr: str) -> Values:
        key = (module, attr)
        if key in self._module_attr:
            return self._module_attr[key]
        self._module_attr[key] = EMPTY  # cycles between `from a import b` and `from b import a`
        symbols = self.program.module(module)
        found: Values = EMPTY
        if symbols is not None:
            bindings = symbols.globals.get(attr, [])
            found = union_of(self.binding_values(b) for b in bindings)
        if self.program.is_first_party(f"{module}.{attr}"):
            found = found | {ModuleValue(f"{module}.{attr}")}
        self._module_attr[key] = found
        return found

    def _param_values(self, binding: Binding) -> Values:
        node, func = binding.node, binding.func
        if isinstance(node, ast.arg) and func is not None:
            if func.cls is not None and binding.index == 0 and not func.is_static:
                if func.is_classmethod or func.name == "__new__":
                    return frozenset({ClassValue(func.cls)})
                return frozenset({InstanceValue(func.cls, exact=False)})
            found = self.annotation_instances(node.annotation, binding.scope) if node.annotation else EMPTY
            default = _default_of(func, node)
            if default is not None:
                found = found | self.eval(default, Scope(func.module, func.outer))
            return found
        if isinstance(node, ast.expr):
            return self.annotation_instances(node, binding.scope)
        return EMPTY

    def annotation_instances(self, annotation: ast.expr | None, scope: Scope) -> Values:
        if annotation is None:
            return EMPTY
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return EMPTY
        if isinstance(annotation, ast.Subscript):
            inner = annotation.slice
            parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            return union_of(self.annotation_instances(p, scope) for p in parts)
        if isinstance(annotation, ast.BinOp):
            return self.annotation_instances(annotation.left, scope) | self.annotation_instances(annotation.right,
                                                                                                 scope)
        if isinstance(annotation, ast.Name | ast.Attribute):
            return frozenset(InstanceValue(v.cls, exact=False) for v in self.eval(annotation, scope)
                             if isinstance(v, ClassValue))
        return EMPTY

    # -- expressions

    def _eval(self, expr: ast.expr, scope: Scope) -> Values:
        if isinstance(expr, ast.Name):
            return self.lookup(expr.id, scope)
        if isinstance(expr, ast.Attribute):
            owners = self.eval(expr.value, scope)
            return union_of(self.member_values(v, expr.attr) for v in owners) if owners else EMPTY
        if isinstance(expr, ast.Call):
            return self._call_result(expr, scope)
        if isinstance(expr, ast.Dict):
            return frozenset({ContainerValue(union_of(self.eval(v, scope) for v in expr.values))})
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return frozenset({ContainerValue(union_of(self.eval(e, scope) for e in expr.elts))})
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return frozenset({ContainerValue(self.eval(expr.elt, scope))})
        if isinstance(expr, ast.DictComp):
            return frozenset({ContainerValue(self.eval(expr.value, scope))})
        if isinstance(expr, ast.Subscript):
            return self.elements(self.eval(expr.value, scope))
        if isinstance(expr, ast.IfExp):
            taken = self.toggles.fold(expr.test, scope)
            if taken is True:
                return self.eval(expr.body, scope)
            if taken is False:
                return self.eval(expr.orelse, scope)
            return self.eval(expr.body, scope) | self.eval(expr.orelse, scope)
        if isinstance(expr, ast.BoolOp):
            return union_of(self.eval(v, scope) for v in expr.values)
        if isinstance(expr, ast.NamedExpr):
            return self.eval(expr.value, scope)
        if isinstance(expr, ast.Await | ast.Starred):
            return self.eval(expr.value, scope)
        if isinstance(expr, ast.Lambda):
            named = scope.module.defined_functions.get(id(expr))
            return frozenset({FunctionValue(named)}) if named is not None else EMPTY
        return EMPTY

    def _call_result(self, call: ast.Call, scope: Scope) -> Values:
        func = call.func
        if isinstance(func, ast.Name) and not self.is_bound(func.id, scope):
            return self._builtin_result(func.id, call, scope)
        if isinstance(func, ast.Attribute) and func.attr == "partial" and call.args:
            return self.eval(call.args[0], scope)
        external = external_name(self, func, scope)
        if external is not None:
            known = external_call(self, external, call, scope)
            if known is not None:
                return known
        found: Values = EMPTY
        for value in self.eval(func, scope):
            found = found | self.call_values(value, scope)
        return found

    def _builtin_result(self, name: str, call: ast.Call, scope: Scope) -> Values:
        args = call.args
        if name == "getattr" and len(args) >= 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value,
                                                                                                      str):
            found = union_of(self.member_values(v, args[1].value) for v in self.eval(args[0], scope))
            return found | (self.eval(args[2], scope) if len(args) > 2 else EMPTY)
        if name in _PASSTHROUGH_BUILTINS and args:
            return self.eval(args[0], scope)
        if name == "next" and args:
            return self.elements(self.eval(args[0], scope))
        if name == "cast" and len(args) == 2:
            return self.eval(args[1], scope)
        if name == "super" and scope.func is not None and scope.func.cls is not None:
            return frozenset({SuperValue(scope.func.cls)})
        if name == "type" and len(args) == 1:
            return frozenset(ClassValue(v.cls) for v in self.eval(args[0], scope) if isinstance(v, InstanceValue))
        return EMPTY

    def call_values(self, value: Value, scope: Scope) -> Values:
        if isinstance(value, FunctionValue):
            return self.returns_of(value.fn)
        if isinstance(value, ClassValue):
            return frozenset({InstanceValue(value.cls, exact=True, origin=scope.func)})
        if isinstance(value, InstanceValue):
            call = self.method(value.cls, "__call__")
            return self.returns_of(call) if call is not None else EMPTY
        if isinstance(value, VirtualMethodValue):
            method = self.method(value.cls, value.attr)
            return self.returns_of(method) if method is not None else EMPTY
        if isinstance(value, ContainerMethodValue):
            return value.items
        return EMPTY

    def returns_of(self, fn: FuncInfo) -> Values:
        key = id(fn)
        if key in self._returns:
            return self._returns[key]
        self._returns[key] = EMPTY
        scope = Scope(fn.module, fn)
        found: Values = EMPTY
        for node in _own_nodes(fn.node):
            if isinstance(node, ast.Return | ast.Yield) and node.value is not None:
                found = found | self.eval(node.value, scope)
        if fn.node.returns is not None and not found:
            found = self.annotation_instances(fn.node.returns, Scope(fn.module, fn.outer))
        self._returns[key] = found
        return found

    def elements(self, values: Values) -> Values:
        found: Values = EMPTY
        for value in values:
            if isinstance(value, ContainerValue | ContainerMethodValue):
                found = found | value.items
        return found

    # -- classes

    def mro(self, cls: ClassInfo) -> tuple[ClassInfo, ...]:
        key = id(cls)
        if key in self._mro:
            return self._mro[key]
        self._mro[key] = (cls,)
        order: list[ClassInfo] = [cls]
        scope = Scope(cls.module, cls.outer)
        for base in cls.node.bases:
            for value in self.eval(base, scope):
                if isinstance(value, ClassValue):
                    for ancestor in self.mro(value.cls):
                        if ancestor not in order:
                            order.append(ancestor)
        self._mro[key] = tuple(order)
        return self._mro[key]

    def method(self, cls: ClassInfo, name: str) -> FuncInfo | None:
        for klass in self.mro(cls):
            found = klass.methods.get(name)
            if found is not None:
                return found
        return None

    def member_values(self, value: Value, attr: str) -> Values:
        if isinstance(value, ModuleValue):
            return self.module_attr(value.name, attr)
        if isinstance(value, ContainerValue):
            return frozenset({ContainerMethodValue(value.items)}) if attr in _CONTAINER_METHODS else EMPTY
        if isinstance(value, ClassValue):
            return self._class_member(value.cls, attr, instance=None)
        if isinstance(value, InstanceValue):
            return self._class_member(value.cls, attr, instance=value)
        if isinstance(value, SuperValue):
            for klass in self.mro(value.cls)[1:]:
                method = klass.methods.get(attr)
                if method is not None:
                    return frozenset({FunctionValue(method)})
        return EMPTY

    def _class_member(self, cls: ClassInfo, attr: str, instance: InstanceValue | None) -> Values:
        method = self.method(cls, attr)
        if method is not None:
            if method.is_property:
                return self.returns_of(method)
            if instance is not None and not instance.exact and not method.is_static:
                return frozenset({VirtualMethodValue(cls, attr, instance.origin)})
            return frozenset({FunctionValue(method, instance.origin if instance else None)})
        found: Values = EMPTY
        for klass in self.mro(cls):
            bindings = klass.class_attrs.get(attr)
            if instance is not None:
                bindings = [*(klass.instance_attrs.get(attr) or []), *(bindings or [])]
            if bindings:
                found = found | union_of(self.binding_values(b) for b in bindings)
                break
        return found

    def properties_hit(self, expr: ast.Attribute, scope: Scope) -> list[FuncInfo]:
        hit = []
        for value in self.eval(expr.value, scope):
            if isinstance(value, InstanceValue | ClassValue):
                method = self.method(value.cls, expr.attr)
                if method is not None and method.is_property:
                    hit.append(method)
        return hit

    def virtual_targets(self, base: ClassInfo, attr: str, classes: Iterable[ClassInfo]) -> Iterator[FuncInfo]:
        """Where a call of `attr` on "a `base` or a subclass" lands, for each of `classes` that is one."""
        for klass in classes:
            if klass is base or base in self.mro(klass):
                method = self.method(klass, attr)
                if method is not None:
                    yield method


def _default_of(func: FuncInfo, param: ast.arg) -> ast.expr | None:
    args = func.node.args
    positional = [*args.posonlyargs, *args.args]
    if param in positional:
        offset = len(positional) - len(args.defaults)
        index = positional.index(param)
        return args.defaults[index - offset] if index >= offset else None
    if param in args.kwonlyargs:
        return args.kw_defaults[args.kwonlyargs.index(param)]
    return None


def _own_nodes(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterable[ast.AST]:
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(child_nodes(current))
