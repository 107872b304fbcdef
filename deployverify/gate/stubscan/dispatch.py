"""Dispatch the call graph cannot see as a call: functions registered by decorator and called later by someone else.

- Powertools event handlers: `app = APIGatewayRestResolver()` (any `...Resolver` or `...Router` class imported from
  `aws_lambda_powertools.event_handler`), `@app.get("/x")` / `@router.route(...)` / `@app.resolver(...)` register a
  function; `app.resolve(event, context)` (or `app(event, context)`) calls them; `app.include_router(router)` adds a
  router's routes to the app's.
- Powertools batch processing: `process_partial_response(record_handler=f, ...)` and `@batch_processor(
  record_handler=f, ...)` call `f` once per record.
- Generic registries: a first-party decorator that stores the function in a module-level dict, list or set; the
  functions are reached when reached code reads that container.
Third-party code is never read: Powertools is recognised by its import names. A registered function is reached
only when its registry is read by reached code, and its call path shows the hop (`app.resolve → route POST /x`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployverify.gate.stubscan.bindings import Binding, Scope
from deployverify.gate.stubscan.symbols import FuncInfo, ModuleSymbols, Node
from deployverify.gate.stubscan.values import EMPTY, ModuleValue, RegistryValue, Values

if TYPE_CHECKING:
    from deployverify.gate.stubscan.resolver import Resolver

POWERTOOLS_EVENT_HANDLER = "aws_lambda_powertools.event_handler"
POWERTOOLS_BATCH = "aws_lambda_powertools.utilities.batch"
# Where each batch entry point takes its record handler: (keyword, positional index).
BATCH_RECORD_HANDLER = {"process_partial_response": ("record_handler", 1),
                        "async_process_partial_response": ("record_handler", 1),
                        "batch_processor": ("record_handler", 0), "async_batch_processor": ("record_handler", 0)}
_READ_METHODS = frozenset({"resolve", "__call__", "lambda_handler"})
_HTTP_METHODS = frozenset({"get", "post", "put", "delete", "patch", "head", "options"})
_PASSTHROUGH = frozenset({"functools.partial", "functools.partialmethod", "functools.cache", "functools.lru_cache",
                          "functools.cached_property", "typing.cast"})
_IMPORTERS = frozenset({"importlib.import_module", "importlib.__import__"})
_CONTAINER_MAKERS = frozenset({"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "WeakValueDictionary"})
_STORE_METHODS = frozenset({"append", "add", "insert", "extend", "update", "setdefault", "__setitem__", "appendleft"})


def external_name(resolver: Resolver, expr: ast.expr, scope: Scope) -> str | None:
    """The import name of a third-party (or standard library) callable, e.g. `functools.partial` or
    `aws_lambda_powertools.event_handler.APIGatewayRestResolver`; None for first-party names and builtins."""
    if isinstance(expr, ast.Attribute):
        base = external_name(resolver, expr.value, scope)
        return f"{base}.{expr.attr}" if base is not None else None
    if not isinstance(expr, ast.Name):
        return None
    for binding in resolver.bindings_of(expr.id, scope):
        if binding.kind == "module" and not resolver.program.is_first_party(binding.target):
            return binding.target
        if binding.kind == "from" and not resolver.program.is_first_party(binding.target):
            return f"{binding.target}.{binding.name}"
    return None


def external_call(resolver: Resolver, name: str, call: ast.Call, scope: Scope) -> Values | None:
    """What a call of a third-party callable (by import name) gives, when it is one the scan knows; else None."""
    if name in _PASSTHROUGH or name.rpartition(".")[2] == "partial":
        argument = call.args[-1] if name == "typing.cast" and call.args else (call.args[0] if call.args else None)
        return resolver.eval(argument, scope) if argument is not None else EMPTY
    if name in _IMPORTERS and call.args and isinstance(call.args[0], ast.Constant):
        module = str(call.args[0].value)
        return frozenset({ModuleValue(module)}) if resolver.program.is_first_party(module) else EMPTY
    if name.startswith(POWERTOOLS_EVENT_HANDLER) and name.endswith(("Resolver", "Router")):
        where = f"{scope.module.name}:{call.lineno}:{call.col_offset}"
        return frozenset({RegistryValue(where, name.rpartition(".")[2], "powertools")})
    return None


def batch_record_handler(name: str, call: ast.Call) -> ast.expr | None:
    """The record handler passed to a Powertools batch entry point, if `name` is one."""
    tail = name.rpartition(".")[2]
    if not name.startswith(POWERTOOLS_BATCH) or tail not in BATCH_RECORD_HANDLER:
        return None
    keyword, index = BATCH_RECORD_HANDLER[tail]
    for given in call.keywords:
        if given.arg == keyword:
            return given.value
    return call.args[index] if len(call.args) > index else None


def is_registry_read(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr in _READ_METHODS


def route_label(decorator: ast.Call) -> str:
    """How a Powertools registration shows in call paths: `route POST /documents`, `resolver Query.getPost`."""
    assert isinstance(decorator.func, ast.Attribute)
    method = decorator.func.attr
    constants = [str(a.value) for a in decorator.args if isinstance(a, ast.Constant)]
    keywords = {k.arg: str(k.value.value) for k in decorator.keywords if isinstance(k.value, ast.Constant) and k.arg}
    if method in _HTTP_METHODS:
        return f"route {method.upper()} {constants[0] if constants else keywords.get('rule', '?')}"
    if method == "route":
        rule = constants[0] if constants else keywords.get("rule", "?")
        verb = constants[1] if len(constants) > 1 else keywords.get("method", "GET")
        return f"route {verb.upper()} {rule}"
    if method == "resolver":
        field_name = keywords.get("field_name", constants[0] if constants else "?")
        return f"resolver {keywords.get('type_name', '*')}.{field_name}"
    return f"{method} {constants[0]}" if constants else method


# -- generic registries


def _is_container(binding: Binding) -> bool:
    node = binding.node
    if binding.kind != "expr" or not isinstance(node, ast.expr):
        return False
    if isinstance(node, ast.Dict | ast.List | ast.Set | ast.DictComp):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        return (func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute)
                else "") in _CONTAINER_MAKERS
    return False


def container_global(resolver: Resolver, expr: ast.expr, scope: Scope) -> tuple[str, str] | None:
    """(module, name) when `expr` names a module-level container (a registry a decorator may fill)."""
    if isinstance(expr, ast.Name):
        # Module globals first: most names are not a container there, and that answer needs no function's locals.
        # It is the same for every read of the name in the module (the program is), so it is worked out once.
        known = scope.module.container_globals
        if expr.id in known:
            key = known[expr.id]
        else:
            key = known[expr.id] = _global_container(resolver, scope.module, expr.id)
        func = scope.func
        while key is not None and func is not None:
            if expr.id in func.locals():
                return None  # a local of the same name hides the global
            func = func.outer
        return key
    if isinstance(expr, ast.Attribute):
        for value in resolver.eval(expr.value, scope):
            if isinstance(value, ModuleValue):
                source = resolver.program.module(value.name)
                if source is not None and any(_is_container(b) for b in source.globals.get(expr.attr, ())):
                    return value.name, expr.attr
    return None


def _global_container(resolver: Resolver, module: ModuleSymbols, name: str) -> tuple[str, str] | None:
    bindings = module.globals.get(name, ())
    if any(_is_container(b) for b in bindings):
        return module.name, name
    for binding in bindings:
        if binding.kind == "from" and resolver.program.is_first_party(binding.target):
            source = resolver.program.module(binding.target)
            if source is not None and any(_is_container(b) for b in source.globals.get(binding.name, ())):
                return binding.target, binding.name
    return None


def registry_writes(resolver: Resolver, decorator: FuncInfo) -> set[tuple[str, str]]:
    """The module-level containers a decorator (or the function it returns) stores functions into."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(decorator.node):
        stored: ast.expr | None = None
        if isinstance(node, ast.Assign | ast.AugAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Subscript):
                    stored = target.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _STORE_METHODS:
            stored = node.func.value
            while isinstance(stored, ast.Call | ast.Subscript | ast.Attribute) and not isinstance(stored, ast.Name):
                stored = stored.func if isinstance(stored, ast.Call) else stored.value
        if isinstance(stored, ast.Name):
            key = container_global(resolver, stored, Scope(decorator.module))
            if key is not None:
                found.add(key)
    return found


# -- the graph's side: who registered on what, and who read it


@dataclass
class Registries:
    """Registrations and reads seen so far; an edge is added when both a read and a registration of a key exist."""

    add_edge: Callable[[Node, Node, tuple[str, ...]], None]
    registered: dict[str, list[tuple[FuncInfo, str]]] = field(default_factory=dict)
    readers: dict[str, list[tuple[Node, tuple[str, ...]]]] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    writes: dict[int, set[tuple[str, str]]] = field(default_factory=dict)  # id(decorator) -> registry_writes()

    def register(self, key: str, fn: FuncInfo, label: str) -> None:
        self.registered.setdefault(key, []).append((fn, label))
        for reader, hop in list(self.readers.get(key, ())):
            self.add_edge(reader, fn, (*hop, label))

    def read(self, key: str, reader: Node, hop: tuple[str, ...]) -> None:
        readers = self.readers.setdefault(key, [])
        if any(r is reader for r, _ in readers):
            return
        readers.append((reader, hop))
        for fn, label in list(self.registered.get(key, ())):
            self.add_edge(reader, fn, (*hop, label))
        for inner in list(self.links.get(key, ())):
            self.read(inner, reader, hop)

    def link(self, outer: str, inner: str) -> None:
        """`app.include_router(router)`: reading the app reads the router."""
        self.links.setdefault(outer, []).append(inner)
        for reader, hop in list(self.readers.get(outer, ())):
            self.read(inner, reader, hop)
