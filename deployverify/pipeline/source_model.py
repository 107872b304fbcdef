"""The bundle's Python code as secret_keys.py reads it: parsed modules, their imports, string constants and functions.

Kept apart from the key-read analysis so that module stays one idea (following a secret through the code) and this
one another (what a module and a function are, read with `ast`, nothing imported).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SourceFunction:
    qualname: str
    module: SecretReadingModule
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Module
    params: list[str]
    class_name: str | None = None
    tainted: set[str] = field(default_factory=set)
    returns_secret: bool = False
    hints: set[str] = field(default_factory=set)  # where the secret this function holds was fetched
    # helper reads whose key comes from a parameter: (secret param, key param, line, optional-inside)
    param_reads: list[tuple[str, str, int, bool]] = field(default_factory=list)


@dataclass
class SecretReadingModule:
    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target
    constants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    strings: set[str] = field(default_factory=set)
    json_loads: set[str] = field(default_factory=set)  # names bound to json.loads
    json_modules: set[str] = field(default_factory=set)  # names bound to the json module


def string_tuple(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return tuple(str(e.value) for e in node.elts)  # type: ignore[attr-defined]
    return None


def load_module(name: str, path: Path) -> SecretReadingModule | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except SyntaxError:
        return None
    module = SecretReadingModule(name=name, path=path, tree=tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                module.imports[bound] = alias.name if alias.asname else bound
                if alias.name == "json":
                    module.json_modules.add(bound)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                module.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
                if base == "json" and alias.name == "loads":
                    module.json_loads.add(alias.asname or "loads")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            module.strings.add(node.value)
    for stmt in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        keys = string_tuple(value) if value is not None else None
        for target in targets:
            if isinstance(target, ast.Name) and keys is not None:
                module.constants[target.id] = keys
    return module


def functions_of(module: SecretReadingModule) -> Iterator[SourceFunction]:
    yield SourceFunction(qualname=f"{module.name}.<module>", module=module, node=module.tree, params=[])

    def visit(body: Iterable[ast.stmt], prefix: str, class_name: str | None) -> Iterator[SourceFunction]:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                params = [a.arg for a in (*args.posonlyargs, *args.args)]
                if class_name is not None and params and params[0] in ("self", "cls"):
                    params = params[1:]
                params += [a.arg for a in args.kwonlyargs]
                qualname = f"{prefix}.{node.name}"
                yield SourceFunction(qualname=qualname, module=module, node=node, params=params, class_name=class_name)
                yield from visit(node.body, qualname, None)
            elif isinstance(node, ast.ClassDef):
                yield from visit(node.body, f"{prefix}.{node.name}", f"{prefix}.{node.name}")

    yield from visit(module.tree.body, module.name, None)


def own_nodes(function: SourceFunction) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions or classes defined inside it."""
    roots: list[ast.AST] = list(function.node.body)
    while roots:
        node = roots.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                roots.append(child)
