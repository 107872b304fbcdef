"""The call graph: from a handler's roots, walk the code it reaches and record who reaches what.

The collector visits each reached node (function, class, module) once: calls, references to functions and classes
(callbacks count as reached), imports (a module's top-level code runs), properties, and virtual calls, which reach
every override in the classes the reached code instantiates, including classes instantiated later in the walk.
An `if` whose test folds to a constant because it reads a mock toggle (toggles.py) is a ToggleSite: only the
branch the deployed function takes is walked. Functions registered by decorator (Powertools routes, registry dicts)
are reached when reached code reads their registry (dispatch.py). How expressions become values is resolver.py's
business; the graph itself is graph.py's.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from deployverify.gate.stubscan import dispatch
from deployverify.gate.stubscan.bindings import Scope, resolve_relative
from deployverify.gate.stubscan.graph import CallGraph, ToggleSite
from deployverify.gate.stubscan.program import Program
from deployverify.gate.stubscan.resolver import Resolver
from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo, Node
from deployverify.gate.stubscan.syntax import child_nodes
from deployverify.gate.stubscan.values import (
    ClassValue,
    ContainerMethodValue,
    ContainerValue,
    FunctionValue,
    InstanceValue,
    ModuleValue,
    RegistryValue,
    Value,
    VirtualMethodValue,
)

_CTOR_METHODS = ("__new__", "__init__", "__post_init__")


class _Collector:
    """Finds the edges out of one node: calls, references to functions and classes, imports, properties."""

    def __init__(self, graph: CallGraph, node: Node,
                 emit: Callable[[Node, FuncInfo | None], None] | None = None,
                 emit_virtual: Callable[[ClassInfo, str, FuncInfo | None], None] | None = None) -> None:
        self.graph = graph
        self.resolver = graph.resolver
        self.node = node
        self._emit = emit
        self._emit_virtual = emit_virtual
        if isinstance(node, FuncInfo):
            self.scope = Scope(node.module, node)
            self.base_ref = True
        elif isinstance(node, ClassInfo):
            self.scope = Scope(node.module, node.outer)
            self.base_ref = False
        else:
            self.scope = Scope(node)
            self.base_ref = False

    # -- output

    def edge(self, target: Node, via: FuncInfo | None = None, hop: tuple[str, ...] = ()) -> None:
        if self._emit is not None:
            self._emit(target, via)
        else:
            self.graph.add_edge(self.node, target, via, hop)

    def virtual(self, cls: ClassInfo, attr: str, via: FuncInfo | None) -> None:
        if self._emit_virtual is not None:
            self._emit_virtual(cls, attr, via)
        else:
            self.graph.add_virtual(self.node, cls, attr, via)

    # -- walking

    def collect(self) -> None:
        node = self.node
        if isinstance(node, FuncInfo):
            for decorator in node.node.decorator_list:  # wrapping decorators run around every call
                self.expr(decorator, ref=True)
            self.statements(node.node.body)
        elif isinstance(node, ClassInfo):
            for name in _CTOR_METHODS:
                method = self.resolver.method(node, name)
                if method is not None:
                    self.edge(method)
        else:
            self.statements(node.tree.body)

    def statements(self, body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in stmt.decorator_list:
                self.expr(decorator, ref=False)
                self.registration(stmt, decorator)
            for default in (*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None)):
                self.expr(default, ref=False)
            return
        if isinstance(stmt, ast.ClassDef):
            for part in (*stmt.decorator_list, *stmt.bases):
                self.expr(part, ref=False)
            if not isinstance(self.node, FuncInfo):
                self.statements(s for s in stmt.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef))
            return
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            self.imports(stmt)
            return
        if isinstance(stmt, ast.If):
            taken = self.fold(stmt.test)
            if taken is not None:
                branch = stmt.body if taken else stmt.orelse
                self.graph.toggles.append(ToggleSite(self.node, self.scope, stmt.test, taken, tuple(branch),
                                                     stmt.lineno))
                self.statements(branch)
                return
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.expr(stmt.value, ref=self.base_ref)
            return
        self.children(stmt, ref=self.base_ref)

    def children(self, node: ast.AST, ref: bool) -> None:
        for child in child_nodes(node):  # contexts and operators left out
            if isinstance(child, ast.expr):  # the common case first
                self.expr(child, ref=ref)
            elif isinstance(child, ast.stmt):
                self.statement(child)
            elif isinstance(child, ast.ExceptHandler):
                if child.type is not None:
                    self.expr(child.type, ref=False)
                self.statements(child.body)
            else:
                self.children(child, ref)

    def registration(self, stmt: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr) -> None:
        """A decorator that records the function somewhere reached code may call it from (dispatch.py)."""
        fn = self.scope.module.defined_functions.get(id(stmt))
        if fn is None or self._emit is not None:
            return
        if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute):
            for value in self.resolver.eval(decorator.func.value, self.scope):
                if isinstance(value, RegistryValue):
                    self.graph.registries.register(value.key, fn, dispatch.route_label(decorator))
        maker = decorator.func if isinstance(decorator, ast.Call) else decorator
        for value in self.resolver.eval(maker, self.scope):
            if isinstance(value, FunctionValue):
                writes = self.graph.registries.writes
                if id(value.fn) not in writes:  # a decorator is read once however many functions it decorates
                    writes[id(value.fn)] = dispatch.registry_writes(self.resolver, value.fn)
                for module, name in writes[id(value.fn)]:
                    label = "@" + ast.unparse(decorator)[:60]
                    self.graph.registries.register(f"{module}.{name}", fn, label)

    def registry_read(self, expr: ast.Name | ast.Attribute) -> None:
        if self._emit is not None:
            return
        key = dispatch.container_global(self.resolver, expr, self.scope)
        if key is not None:
            self.graph.registries.read(".".join(key), self.node, (key[1],))

    def fold(self, test: ast.expr) -> bool | None:
        return self.resolver.toggles.fold(test, self.scope)

    def imports(self, stmt: ast.Import | ast.ImportFrom) -> None:
        program = self.graph.program
        names: list[str] = []
        if isinstance(stmt, ast.Import):
            names = [alias.name for alias in stmt.names]
        else:
            module = self.scope.module
            base = resolve_relative(module.package, stmt.level, stmt.module)
            names = [base, *(f"{base}.{alias.name}" for alias in stmt.names if alias.name != "*")]
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                candidate = ".".join(parts[:depth])
                if candidate in program.sources:
                    symbols = program.module(candidate)
                    if symbols is not None and symbols is not self.scope.module:
                        self.edge(symbols)

    def expr(self, expr: ast.expr, ref: bool) -> None:
        if isinstance(expr, ast.Name):  # the most common expression first
            if isinstance(expr.ctx, ast.Load):
                self.registry_read(expr)
                if ref:
                    self.references(self.resolver.eval(expr, self.scope))
        elif isinstance(expr, ast.Call):
            self.call(expr)
        elif isinstance(expr, ast.Constant):  # common, and nothing inside it to walk
            return
        elif isinstance(expr, ast.Attribute):
            if isinstance(expr.ctx, ast.Load):
                self.registry_read(expr)
                if ref:
                    self.references(self.resolver.eval(expr, self.scope))
                for prop in self.resolver.properties_hit(expr, self.scope):
                    self.edge(prop)
            self.receiver(expr.value)
        elif isinstance(expr, ast.IfExp):
            taken = self.fold(expr.test)
            if taken is None:
                self.children(expr, ref)
            else:
                branch = expr.body if taken else expr.orelse
                self.graph.toggles.append(ToggleSite(self.node, self.scope, expr.test, taken, branch, expr.lineno))
                self.expr(branch, ref)
        elif isinstance(expr, ast.Lambda):
            named = self.scope.module.defined_functions.get(id(expr))
            if named is None:
                self.expr(expr.body, ref=True)
            elif ref:
                self.edge(named)
        else:
            self.children(expr, ref)

    def receiver(self, expr: ast.expr) -> None:
        """The object a method is looked up on: calls inside it count; a function used as one is reached."""
        if isinstance(expr, ast.Name):
            self.registry_read(expr)
            self.references(v for v in self.resolver.eval(expr, self.scope) if isinstance(v, FunctionValue))
        else:
            self.expr(expr, ref=False)

    def call(self, call: ast.Call) -> None:
        func = call.func
        # The receiver first: in `get_processor().process()` the factory is reached before the method, so the
        # method's call path can run through the factory that made its instance.
        if isinstance(func, ast.Attribute):
            for prop in self.resolver.properties_hit(func, self.scope):
                self.edge(prop)
            self.receiver(func.value)
        elif not isinstance(func, ast.Name):
            self.expr(func, ref=False)
        callees = self.resolver.eval(call.func, self.scope)
        for value in callees:
            self.callee(value)
        self.dispatching_call(call, callees)
        type_check = isinstance(func, ast.Name) and func.id in ("isinstance", "issubclass")
        for index, arg in enumerate(call.args):
            self.expr(arg, ref=not (type_check and index == 1))
        for keyword in call.keywords:
            self.expr(keyword.value, ref=True)

    def dispatching_call(self, call: ast.Call, callees: Iterable[Value]) -> None:
        """Calls that reach functions by a registry: `app.resolve(...)`, `app.include_router(r)`, batch handlers,
        `importlib.import_module("literal")` (the module's top-level code runs)."""
        func = call.func
        if self._emit is not None:
            return
        if isinstance(func, ast.Attribute):
            for value in self.resolver.eval(func.value, self.scope):
                if not isinstance(value, RegistryValue):
                    continue
                if dispatch.is_registry_read(func):
                    self.graph.registries.read(value.key, self.node, (ast.unparse(func)[:60],))
                elif func.attr == "include_router" and call.args:
                    for inner in self.resolver.eval(call.args[0], self.scope):
                        if isinstance(inner, RegistryValue):
                            self.graph.registries.link(value.key, inner.key)
        for value in callees:  # what `func` evaluates to (the call's own callees)
            if isinstance(value, RegistryValue):  # `app(event, context)` resolves too
                self.graph.registries.read(value.key, self.node, (f"{ast.unparse(func)[:60]}()",))
        external = dispatch.external_name(self.resolver, func, self.scope)
        if external is None:
            return
        record_handler = dispatch.batch_record_handler(external, call)
        if record_handler is not None:
            hop = (external.rpartition(".")[2],)
            for value in self.resolver.eval(record_handler, self.scope):
                if isinstance(value, FunctionValue):
                    self.edge(value.fn, hop=hop)
        for value in self.resolver.eval(call, self.scope):
            if isinstance(value, ModuleValue):
                module = self.graph.program.module(value.name)
                if module is not None:
                    self.edge(module, hop=(f"{external.rpartition('.')[2]}({value.name!r})",))

    def callee(self, value: Value) -> None:
        if isinstance(value, FunctionValue):
            self.edge(value.fn, value.origin)
        elif isinstance(value, ClassValue):
            self.edge(value.cls)
        elif isinstance(value, InstanceValue):
            method = self.resolver.method(value.cls, "__call__")
            if method is not None:
                self.edge(method, value.origin)
        elif isinstance(value, VirtualMethodValue):
            self.virtual(value.cls, value.attr, value.origin)
        elif isinstance(value, ContainerValue | ContainerMethodValue):
            for item in value.items:
                self.callee(item)

    def references(self, values: Iterable[Value]) -> None:
        for value in values:
            if isinstance(value, FunctionValue | ClassValue | VirtualMethodValue):
                self.callee(value)
            elif isinstance(value, ContainerValue | ContainerMethodValue):
                self.references(value.items)


def branch_targets(graph: CallGraph, site: ToggleSite) -> set[Node]:
    """The nodes the taken branch of a toggle calls directly (virtual calls resolved as the graph resolved them)."""
    found: set[Node] = set()

    def emit(target: Node, via: FuncInfo | None) -> None:
        found.add(target)

    def emit_virtual(cls: ClassInfo, attr: str, via: FuncInfo | None) -> None:
        found.update(graph.dispatch_targets(cls, attr))

    collector = _Collector(graph, site.node, emit=emit, emit_virtual=emit_virtual)
    collector.scope = site.scope
    if isinstance(site.branch, tuple):
        collector.statements(site.branch)
    else:
        collector.expr(site.branch, ref=True)
    return found


def handler_roots(program: Program, resolver: Resolver, module_name: str, function: str) -> list[Node]:
    """The handler's module (its import runs at cold start) and what the handler name denotes in it."""
    module = program.module(module_name)
    if module is None:
        return []
    roots: list[Node] = []
    for value in resolver.module_attr(module_name, function):
        if isinstance(value, FunctionValue):
            roots.append(value.fn)
        elif isinstance(value, InstanceValue):
            call = resolver.method(value.cls, "__call__")
            if call is not None:
                roots.append(call)
    roots.append(module)
    return roots


def build(graph: CallGraph) -> None:
    """Collect the edges out of every reached node until no new node is reached."""
    node = graph.next_unvisited()
    while node is not None:
        _Collector(graph, node).collect()
        node = graph.next_unvisited()
