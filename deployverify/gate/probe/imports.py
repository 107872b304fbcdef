"""The bundle's modules and the imports of its first-party code, read statically.

First-party means: not owned by an installed distribution (`*.dist-info/RECORD`, `top_level.txt`). Only first-party
files are parsed; third-party code is indexed by path, never read, which keeps the gate cheap on fat bundles.
Imports inside functions are collected too: Lambda only fails on them when the function runs, long after deploy.
"""

from __future__ import annotations

import ast
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

_SKIP_DIRS = {"__pycache__", "bin", ".git"}
_EXTENSION_SUFFIXES = (".so", ".pyd")


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    path: Path
    is_package: bool
    first_party: bool
    distribution: str | None = None

    @property
    def top(self) -> str:
        return self.name.split(".")[0]

    @property
    def is_extension(self) -> bool:
        return self.path.suffix in _EXTENSION_SUFFIXES


@dataclass(frozen=True)
class ImportRef:
    module: str  # absolute dotted name the statement imports from
    names: tuple[str, ...]  # for `from m import a, b`; empty for `import m`
    path: Path
    line: int
    in_function: bool
    guarded: bool  # inside try/except ImportError or a find_spec test: the code expects it may be missing
    type_checking: bool = False
    # Enclosing `if`s that test the interpreter (sys.version_info, sys.platform): (test source, branch taken).
    # The import runs only where every test has that outcome (deployverify.gate.probe.import_closure evaluates them).
    conditions: tuple[tuple[str, bool], ...] = ()
    beyond_top: bool = False  # a relative import with more dots than the package has levels: always fails
    # In an `except ImportError:` handler: the modules its `try` imports. The handler's import runs only when one
    # of them is missing, so it can fail only then (`try: import tomllib` / `except ImportError: import tomli`).
    alternatives: tuple[str, ...] = ()

    def candidates(self) -> tuple[str, ...]:
        """The module names this statement may load: `from a import b` loads `a` and maybe the submodule `a.b`."""
        return (self.module, *(f"{self.module}.{n}" for n in self.names if n != "*"))


def _is_identifier_path(parts: Iterable[str]) -> bool:
    return all(p.isidentifier() for p in parts)


def _module_name(relative: Path) -> tuple[str, bool] | None:
    parts = list(relative.parts)
    leaf = parts[-1]
    if leaf.endswith(".py"):
        stem = leaf[:-3]
    elif leaf.endswith(_EXTENSION_SUFFIXES):
        stem = leaf.split(".")[0]
    else:
        return None
    is_package = stem == "__init__"
    names = parts[:-1] if is_package else [*parts[:-1], stem]
    if not names or not _is_identifier_path(names):
        return None
    return ".".join(names), is_package


def _distribution_tops(root: Path) -> dict[str, str]:
    """Top-level import name -> distribution, from pip's metadata in the bundle."""
    owners: dict[str, str] = {}
    for meta in root.glob("*.dist-info"):
        dist = meta.name.split("-")[0]
        top_level = meta / "top_level.txt"
        if top_level.exists():
            for name in top_level.read_text(encoding="utf-8", errors="replace").split():
                owners.setdefault(name.replace("/", "."), dist)
        record = meta / "RECORD"
        if record.exists():
            for row in record.read_text(encoding="utf-8", errors="replace").splitlines():
                first = row.split(",", 1)[0].split("/", 1)[0]
                if first.endswith(".py"):
                    first = first[:-3]
                elif first.endswith(_EXTENSION_SUFFIXES):
                    first = first.split(".")[0]
                if first.isidentifier():
                    owners.setdefault(first, dist)
    for meta in root.glob("*.egg-info"):
        top_level = meta / "top_level.txt"
        if top_level.exists():
            for name in top_level.read_text(encoding="utf-8", errors="replace").split():
                owners.setdefault(name, meta.name.split("-")[0])
    return owners


def iter_module_files(root: Path) -> Iterator[tuple[Path, Path]]:
    """(absolute file, path relative to root) for every .py/.so below root, skipping metadata and caches."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith((".dist-info", ".egg-info"))
                         and d.isidentifier())
        here = Path(folder)
        for name in sorted(files):
            if name.endswith((".py", *_EXTENSION_SUFFIXES)):
                file = here / name
                yield file, file.relative_to(root)


@dataclass
class BundleIndex:
    root: Path
    modules: dict[str, ModuleInfo]
    layers: tuple[Path, ...] = ()
    _imports: dict[str, list[ImportRef]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_bundle(cls, root: Path, layers: Iterable[Path] = ()) -> BundleIndex:
        layer_roots = tuple(_layer_python_roots(Path(p)) for p in layers)
        modules: dict[str, ModuleInfo] = {}
        # The bundle comes first on Lambda's sys.path, then layers: earlier roots win.
        for search_root, in_bundle in ((root, True), *((r, False) for group in layer_roots for r in group)):
            if not search_root.is_dir():
                continue
            owners = _distribution_tops(search_root)
            for file, relative in iter_module_files(search_root):
                named = _module_name(relative)
                if named is None:
                    continue
                name, is_package = named
                if name in modules:
                    continue
                owner = owners.get(name.split(".")[0])
                modules[name] = ModuleInfo(name=name, path=file, is_package=is_package,
                                           first_party=in_bundle and owner is None, distribution=owner)
        for name in list(modules):  # namespace packages: folders without __init__.py that hold modules
            parts = name.split(".")
            for depth in range(1, len(parts)):
                parent = ".".join(parts[:depth])
                if parent not in modules:
                    child = modules[name]
                    folder = child.path.parents[len(parts) - depth - (0 if child.is_package else 1)]
                    modules[parent] = ModuleInfo(parent, folder, True, child.first_party, child.distribution)
        return cls(root=root, modules=modules, layers=tuple(Path(p) for p in layers))

    def resolve(self, name: str) -> ModuleInfo | None:
        return self.modules.get(name)

    def first_party_modules(self) -> list[ModuleInfo]:
        return sorted((m for m in self.modules.values() if m.first_party and m.path.suffix == ".py"),
                      key=lambda m: m.name)

    @cached_property
    def top_level_names(self) -> frozenset[str]:
        return frozenset(name.split(".")[0] for name in self.modules)

    def imports_of(self, module: ModuleInfo) -> list[ImportRef]:
        if module.name not in self._imports:
            self._imports[module.name] = parse_imports(module.path, module.name, module.is_package)
        return self._imports[module.name]

    def first_party_imports(self) -> Iterator[tuple[ModuleInfo, ImportRef]]:
        for module in self.first_party_modules():
            for ref in self.imports_of(module):
                yield module, ref

    def first_party_closure(self, start: Iterable[str]) -> set[str]:
        """The first-party modules `start` (e.g. the handlers' modules) imports, transitively, with themselves and
        their parent packages (importing `a.b` runs `a/__init__.py`). Third-party modules are not walked."""
        queue = list(start)
        reached: set[str] = set()
        while queue:
            name = queue.pop()
            info = self.modules.get(name)
            if name in reached or info is None or not info.first_party:
                continue
            reached.add(name)
            parts = name.split(".")
            queue.extend(".".join(parts[:depth]) for depth in range(1, len(parts)))
            if info.path.suffix == ".py":
                queue.extend(c for ref in self.imports_of(info) if not ref.type_checking for c in ref.candidates())
        return reached

    def reached_from_first_party(self) -> set[str]:
        """Module names any first-party code may import (statically), with their parent packages.

        First-party modules are followed transitively; third-party ones are recorded, not walked.
        """
        reached: set[str] = set()
        queue = deque(m.name for m in self.first_party_modules())
        seen_first_party: set[str] = set(queue)
        while queue:
            module = self.modules[queue.popleft()]
            for ref in self.imports_of(module):
                if ref.type_checking:
                    continue
                for candidate in ref.candidates():
                    parts = candidate.split(".")
                    for depth in range(1, len(parts) + 1):
                        reached.add(".".join(parts[:depth]))
                    info = self.modules.get(candidate)
                    if info and info.first_party and info.path.suffix == ".py" and candidate not in seen_first_party:
                        seen_first_party.add(candidate)
                        queue.append(candidate)
        return reached


def _layer_python_roots(layer: Path) -> tuple[Path, ...]:
    """Where Lambda puts a layer's Python code on sys.path: /opt/python and /opt/python/lib/pythonX.Y/site-packages."""
    roots = [layer / "python"]
    roots += sorted((layer / "python" / "lib").glob("python3.*/site-packages"))
    return tuple(roots)


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, path: Path, module: str, is_package: bool) -> None:
        self.path = path
        self.package = module if is_package else module.rpartition(".")[0]
        self.refs: list[ImportRef] = []
        self._function_depth = 0
        self._guard_depth = 0
        self._type_checking_depth = 0
        self._conditions: list[tuple[str, bool]] = []
        self._alternatives: tuple[str, ...] = ()

    def _add(self, module: str, names: tuple[str, ...], line: int, beyond_top: bool = False) -> None:
        self.refs.append(ImportRef(module=module, names=names, path=self.path, line=line,
                                   in_function=self._function_depth > 0, guarded=self._guard_depth > 0,
                                   type_checking=self._type_checking_depth > 0, conditions=tuple(self._conditions),
                                   beyond_top=beyond_top, alternatives=self._alternatives))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        beyond_top = False
        if node.level:
            base_parts = self.package.split(".") if self.package else []
            beyond_top = node.level - 1 >= len(base_parts)
            if node.level > 1:
                base_parts = base_parts[: max(len(base_parts) - (node.level - 1), 0)]
            base = ".".join(base_parts)
            module = f"{base}.{node.module}" if node.module and base else (node.module or base)
        else:
            module = node.module or ""
        if beyond_top:
            self._add("." * node.level + (node.module or ""), tuple(a.name for a in node.names), node.lineno, True)
        elif module:
            self._add(module, tuple(a.name for a in node.names), node.lineno)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._function_depth += 1
        self.generic_visit(node)
        self._function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h.type) for h in node.handlers)
        first = len(self.refs)
        self._guard_depth += guarded
        for statement in node.body:
            self.visit(statement)
        self._guard_depth -= guarded
        tried = tuple(dict.fromkeys(ref.module for ref in self.refs[first:] if not ref.beyond_top))
        for handler in node.handlers:
            fallback = bool(tried) and _catches_import_error(handler.type)
            outer, self._alternatives = self._alternatives, (tried if fallback else self._alternatives)
            self.visit(handler)
            self._alternatives = outer
        for part in (*node.orelse, *node.finalbody):
            self.visit(part)

    def visit_TryStar(self, node: ast.TryStar) -> None:
        self.visit_Try(node)  # type: ignore[arg-type]  # same fields as ast.Try

    def visit_If(self, node: ast.If) -> None:
        type_checking = _is_type_checking(node.test)
        condition = ast.unparse(node.test) if _tests_interpreter(node.test) else None
        # `if importlib.util.find_spec("orjson"):` asks whether a module is there: imports in either branch are
        # the code's own answer to its absence, like a try/except ImportError.
        availability = _tests_availability(node.test)
        self._guard_depth += availability
        self._type_checking_depth += type_checking
        self._visit_branch(node.body, condition, True)
        self._type_checking_depth -= type_checking
        self._visit_branch(node.orelse, condition, False)
        self._guard_depth -= availability

    def _visit_branch(self, statements: list[ast.stmt], condition: str | None, taken: bool) -> None:
        if condition is not None:
            self._conditions.append((condition, taken))
        for statement in statements:
            self.visit(statement)
        if condition is not None:
            self._conditions.pop()


def _catches_import_error(handler_type: ast.expr | None) -> bool:
    if handler_type is None:
        return True
    names = handler_type.elts if isinstance(handler_type, ast.Tuple) else [handler_type]
    return any((isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception"))
               or (isinstance(n, ast.Attribute) and n.attr in ("ImportError", "ModuleNotFoundError")) for n in names)


def _tests_interpreter(test: ast.expr) -> bool:
    """`if sys.version_info >= (3, 11):`, `if sys.platform == "win32":` and combinations of them."""
    return any(isinstance(n, ast.Attribute) and n.attr in ("version_info", "platform")
               and isinstance(n.value, ast.Name) and n.value.id == "sys" for n in ast.walk(test))


def _tests_availability(test: ast.expr) -> bool:
    """`find_spec("x")`, `importlib.util.find_spec("x") is not None` and combinations of them."""
    return any(isinstance(n, ast.Call) and ((isinstance(n.func, ast.Name) and n.func.id == "find_spec")
                                            or (isinstance(n.func, ast.Attribute) and n.func.attr == "find_spec"))
               for n in ast.walk(test))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def parse_imports(path: Path, module: str, is_package: bool) -> list[ImportRef]:
    """Every import statement in one file. A file that does not parse has none (the probe reports the syntax error)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    collector = _ImportCollector(path, module, is_package)
    collector.visit(tree)
    return collector.refs
