"""Which keys the bundle's code reads from a Secrets Manager secret, found by reading the code, not by running it.

A secret enters the code as `json.loads(<response>["SecretString"])`. From there it is followed through local
variables, `return`, and arguments of first-party calls (to a fixpoint, so `connect() -> connection_params(
load_secret(...)) -> _first_present(secret, keys)` is one chain). A read is `secret["k"]` or `secret.get("k")`.
Keys may be constants, module-level tuples, loop variables over them, or a parameter of a helper that loops over
the keys its caller passes: the read is then recorded at each call site, with the caller's keys.

Some reads tolerate a missing key: `.get(k, default)`, or `read or default`. Alternatives (`s.get("a") or
s.get("b")`, a loop over several spellings) form one group that any present key satisfies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deployverify.pipeline.source_model import (
    SecretReadingModule,
    SourceFunction,
    functions_of,
    load_module,
    own_nodes,
    string_tuple,
)

SECRET_STRING = "SecretString"  # noqa: S105 - the response field's name


@dataclass(frozen=True)
class KeyRead:
    """A read of one key (or of the first present of a group of alternative keys) from a secret."""

    keys: tuple[str, ...]
    path: Path
    line: int
    function: str
    optional: bool  # the code falls back to a default when the key is missing
    hints: tuple[str, ...] = ()  # string constants of the module where the secret was fetched (env var names)

    @property
    def key(self) -> str:
        return self.keys[0]

    def where(self, root: Path | None = None) -> str:
        path = self.path
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        return f"{path}:{self.line}"


class _Program:
    def __init__(self, modules: list[SecretReadingModule]) -> None:
        self.modules = {m.name: m for m in modules}
        self.functions: dict[str, SourceFunction] = {}
        for module in modules:
            for function in functions_of(module):
                self.functions[function.qualname] = function

    # -- resolution ------------------------------------------------------------------------------------------------
    def callee(self, caller: SourceFunction, call: ast.Call) -> SourceFunction | None:
        func = call.func
        module = caller.module
        if isinstance(func, ast.Name):
            local = self.functions.get(f"{module.name}.{func.id}")
            if local is not None:
                return local
            target = module.imports.get(func.id)
            return self.functions.get(target) if target else None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in ("self", "cls") and caller.class_name:
                return self.functions.get(f"{caller.class_name}.{func.attr}")
            target = module.imports.get(func.value.id)
            if target:
                return self.functions.get(f"{target}.{func.attr}")
        return None

    def is_json_loads(self, module: SecretReadingModule, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in module.json_loads
        return (isinstance(func, ast.Attribute) and func.attr == "loads" and isinstance(func.value, ast.Name)
                and func.value.id in module.json_modules)

    def is_secret(self, function: SourceFunction, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in function.tainted
        if isinstance(node, ast.Call):
            if self.is_json_loads(function.module, node.func) and node.args and _is_secret_string(node.args[0]):
                return True
            if isinstance(node.func, ast.Name) and node.func.id == "dict" and len(node.args) == 1:
                return self.is_secret(function, node.args[0])
            callee = self.callee(function, node)
            return callee is not None and callee.returns_secret
        if isinstance(node, ast.NamedExpr):
            return self.is_secret(function, node.value)
        return False

    def secret_hints(self, function: SourceFunction, node: ast.expr) -> set[str]:
        if isinstance(node, ast.Call):
            callee = self.callee(function, node)
            if callee is not None and callee.returns_secret:
                return set(callee.hints)
            if self.is_json_loads(function.module, node.func):
                return set(function.module.strings)
        return set(function.hints)

    # -- the fixpoint ------------------------------------------------------------------------------------------------
    def propagate(self) -> None:
        changed = True
        rounds = 0
        while changed and rounds < 50:
            rounds += 1
            changed = False
            for function in self.functions.values():
                changed |= self._propagate_in(function)

    def _propagate_in(self, function: SourceFunction) -> bool:
        changed = False
        nodes = list(own_nodes(function))
        local_changed = True
        while local_changed:
            local_changed = False
            for node in nodes:
                for target, value in _assignments(node):
                    if isinstance(target, ast.Name) and target.id not in function.tainted \
                            and self.is_secret(function, value):
                        function.tainted.add(target.id)
                        hints = self.secret_hints(function, value)
                        function.hints |= hints
                        local_changed = changed = True
        for node in nodes:
            if isinstance(node, ast.Return) and node.value is not None and not function.returns_secret \
                    and self.is_secret(function, node.value):
                function.returns_secret = True
                function.hints |= self.secret_hints(function, node.value)
                changed = True
            if isinstance(node, ast.Call):
                callee = self.callee(function, node)
                if callee is None:
                    continue
                for param, arg in _bind(callee, node):
                    if param not in callee.tainted and self.is_secret(function, arg):
                        callee.tainted.add(param)
                        callee.hints |= self.secret_hints(function, arg)
                        changed = True
        return changed


def _is_secret_string(node: ast.expr) -> bool:
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value == SECRET_STRING
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == SECRET_STRING
    return False


def _assignments(node: ast.AST) -> Iterator[tuple[ast.expr, ast.expr]]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield target, node.value
    elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value is not None:
        yield node.target, node.value
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        yield node.optional_vars, node.context_expr


def _bind(callee: SourceFunction, call: ast.Call) -> Iterator[tuple[str, ast.expr]]:
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break
        if index < len(callee.params):
            yield callee.params[index], arg
    for keyword in call.keywords:
        if keyword.arg is not None and keyword.arg in callee.params:
            yield keyword.arg, keyword.value


class _Reads:
    """Collects key reads once taint is known."""

    def __init__(self, program: _Program) -> None:
        self.program = program
        self.reads: list[KeyRead] = []

    def collect(self) -> list[KeyRead]:
        for function in self.program.functions.values():
            self._direct(function)
        for function in self.program.functions.values():
            self._call_sites(function)
        unique = {(r.keys, r.path, r.line, r.optional): r for r in self.reads}
        return sorted(unique.values(), key=lambda r: (str(r.path), r.line, r.keys))

    def _loop_keys(self, function: SourceFunction) -> dict[str, ast.expr]:
        loops: dict[str, ast.expr] = {}
        for node in own_nodes(function):
            if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension) and isinstance(node.target, ast.Name):
                loops[node.target.id] = node.iter
        return loops

    def _keys(self, function: SourceFunction, node: ast.expr,
              loops: dict[str, ast.expr]) -> tuple[str, ...] | str | None:
        """Constant keys, or the name of the parameter the keys come from, or None when unknown."""
        direct = string_tuple(node)
        if direct is not None and len(direct) == 1:
            return direct
        if isinstance(node, ast.Name):
            if node.id in function.module.constants and len(function.module.constants[node.id]) == 1:
                return function.module.constants[node.id]
            if node.id in loops:
                source = loops[node.id]
                keys = string_tuple(source)
                if keys is not None:
                    return keys
                if isinstance(source, ast.Name):
                    if source.id in function.module.constants:
                        return function.module.constants[source.id]
                    if source.id in function.params:
                        return source.id
            if node.id in function.params:
                return node.id
        return None

    def _direct(self, function: SourceFunction) -> None:
        loops = self._loop_keys(function)
        optional_nodes = _fallback_operands(function)
        for node in own_nodes(function):
            read = _read_of(node)
            if read is None:
                continue
            container, key_node, has_default = read
            if not self.program.is_secret(function, container):
                continue
            keys = self._keys(function, key_node, loops)
            optional = has_default or id(node) in optional_nodes
            line = getattr(node, "lineno", 0)
            if isinstance(keys, str):
                secret_param = container.id if isinstance(container, ast.Name) else None
                if secret_param in function.params:
                    function.param_reads.append((secret_param, keys, line, optional))
                continue
            if keys is None:
                continue
            hints = function.hints | self.program.secret_hints(function, container)
            self.reads.append(KeyRead(keys=keys, path=function.module.path, line=line, function=function.qualname,
                                      optional=optional, hints=tuple(sorted(hints))))
        self._or_groups(function)

    def _or_groups(self, function: SourceFunction) -> None:
        """`s.get("a") or s.get("b")`: one group of alternatives, replacing the reads of its operands."""
        for node in own_nodes(function):
            if not (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or)):
                continue
            operands = [_read_of(v) for v in node.values]
            keys: list[str] = []
            lines: set[int] = set()
            for value, read in zip(node.values, operands, strict=True):
                if read is None or not self.program.is_secret(function, read[0]):
                    continue
                found = string_tuple(read[1])
                if found is not None and len(found) == 1:
                    keys.append(found[0])
                    lines.add(getattr(value, "lineno", 0))
            if len(keys) < 2:
                continue
            optional = _read_of(node.values[-1]) is None
            self.reads = [r for r in self.reads if not (r.path == function.module.path and r.line in lines
                                                        and len(r.keys) == 1 and r.key in keys)]
            self.reads.append(KeyRead(keys=tuple(keys), path=function.module.path, line=node.lineno,
                                      function=function.qualname, optional=optional,
                                      hints=tuple(sorted(function.hints))))

    def _call_sites(self, function: SourceFunction) -> None:
        optional_nodes = _fallback_operands(function)
        loops = self._loop_keys(function)
        for node in own_nodes(function):
            if not isinstance(node, ast.Call):
                continue
            callee = self.program.callee(function, node)
            if callee is None or not callee.param_reads:
                continue
            bound = dict(_bind(callee, node))
            for secret_param, key_param, _line, inner_optional in callee.param_reads:
                secret_arg, key_arg = bound.get(secret_param), bound.get(key_param)
                if secret_arg is None or key_arg is None or not self.program.is_secret(function, secret_arg):
                    continue
                keys = string_tuple(key_arg)
                if keys is None and isinstance(key_arg, ast.Name):
                    keys = function.module.constants.get(key_arg.id)
                    if keys is None and key_arg.id in loops:
                        keys = string_tuple(loops[key_arg.id])
                if keys is None:
                    continue
                self.reads.append(KeyRead(
                    keys=keys, path=function.module.path, line=node.lineno, function=function.qualname,
                    optional=inner_optional or id(node) in optional_nodes,
                    hints=tuple(sorted(function.hints | callee.hints))))


def _read_of(node: ast.AST) -> tuple[ast.expr, ast.expr, bool] | None:
    """(container, key, has_default) for `c[k]` (load) and `c.get(k[, default])`."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return node.value, node.slice, False
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and node.args and not isinstance(node.args[0], ast.Starred):
        default = node.args[1] if len(node.args) > 1 else next(
            (k.value for k in node.keywords if k.arg == "default"), None)
        # `.get(k, None)` has no real default: a missing key still gives None
        has_default = default is not None and not (isinstance(default, ast.Constant) and default.value is None)
        return node.func.value, node.args[0], has_default
    return None


def _fallback_operands(function: SourceFunction) -> set[int]:
    """Nodes that are an operand of `x or default` where a non-read default follows: a missing key is tolerated."""
    tolerated: set[int] = set()
    for node in own_nodes(function):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and _read_of(node.values[-1]) is None \
                and not isinstance(node.values[-1], ast.Call):
            for value in node.values[:-1]:
                tolerated.add(id(value))
    return tolerated


def collect_key_reads(files: Iterable[tuple[str, Path]]) -> list[KeyRead]:
    """Key reads from secrets in these first-party modules: (dotted module name, file) pairs."""
    modules = [m for name, path in files if (m := load_module(name, path)) is not None]
    program = _Program(modules)
    program.propagate()
    return _Reads(program).collect()


def reads_for_secret(reads: Iterable[KeyRead], env: str | None, name: str, declared: int) -> list[KeyRead]:
    """The reads that concern one declared secret: matched by the env var or name the fetching module mentions;
    with a single declared secret, every read."""
    wanted = {v for v in (env, name) if v}
    matched = [r for r in reads if wanted & set(r.hints)]
    if matched or declared > 1:
        return matched
    return list(reads)
