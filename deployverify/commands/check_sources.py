"""Where each check lives and what decides it, read from the code with `ast` (nothing is imported).

- Implementations: every `@check("DVnnn")` function in checks/ and smoke/, all of them, so a test can say when an
  id is implemented twice or not at all.
- Engine modules: the deployverify modules a check's body names, following the suite file's imports, the
  module-level helpers the body calls and the fixtures the check takes (their bodies, in the suite's conftest.py or
  the plugin, one level deep: a fixture's own prerequisites are other checks' business), minus the modules every
  check uses to report (core.check, core.registry, core.errors) and the run's context fixtures (`target`, `dv_run`).
- Proving tests: `@pytest.mark.dv_outcomes("DVnnn:fail", "DVnnn:pass")` on a test in tests/ (docs/contributing.md);
  tests/conftest.py fails a run in which a marked test passed without a run of the check giving that status.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deployverify.commands.suite import shipped_folder

SUITES = ("deployverify.checks", "deployverify.smoke")
# Every check uses these to report its outcome; naming them would say nothing about what decides it.
REPORTING_MODULES = frozenset({"deployverify.core.check", "deployverify.core.registry", "deployverify.core.errors"})
CONTEXT_FIXTURES = frozenset({"target", "dv_run", "request"})
OUTCOMES_MARKER = "dv_outcomes"


@dataclass(frozen=True)
class Implementation:
    check_id: str
    file: str  # as shown in docs: checks/test_build.py
    function: str
    docstring: str
    engine_modules: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    """One parsed module: its functions by name and what each imported name refers to."""

    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    imports: dict[str, str]


PACKAGE_FOLDER = Path(__file__).resolve().parents[1]
_MAPPED = ("checks", "smoke", "reports")  # shipped through package-dir: found where the install put them


def _module_exists(name: str) -> bool:
    parts = name.split(".")
    if parts[0] != "deployverify" or len(parts) < 2:
        return False
    base = shipped_folder(f"deployverify.{parts[1]}") if parts[1] in _MAPPED else PACKAGE_FOLDER / parts[1]
    candidate = base.joinpath(*parts[2:])
    return candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file()


def _parse(path: Path) -> _Source:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                imports[alias.asname or alias.name] = full if _module_exists(full) else node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imports[alias.asname or alias.name.partition(".")[0]] = alias.name if alias.asname else \
                    alias.name.partition(".")[0]
    return _Source(functions, imports)


def _check_id(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    for decorator in function.decorator_list:
        if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "check"
                and decorator.args and isinstance(decorator.args[0], ast.Constant)):
            return str(decorator.args[0].value)
    return None


class _Reach:
    """Follows a check's body through helpers and fixtures, collecting the deployverify modules it names."""

    def __init__(self, suite: _Source, fixtures: dict[str, tuple[_Source, ast.FunctionDef | ast.AsyncFunctionDef]]):
        self.suite = suite
        self.fixtures = fixtures
        self.modules: set[str] = set()
        self.seen: set[int] = set()

    def walk(self, source: _Source, function: ast.FunctionDef | ast.AsyncFunctionDef, *,
             with_fixtures: bool = False) -> None:
        if id(function) in self.seen:
            return
        self.seen.add(id(function))
        for argument in function.args.args if with_fixtures else ():
            if argument.arg in self.fixtures and argument.arg not in CONTEXT_FIXTURES:
                self.walk(*self.fixtures[argument.arg])
        for statement in function.body:
            for node in ast.walk(statement):
                if isinstance(node, ast.Name):
                    self._name(source, node.id)

    def _name(self, source: _Source, name: str) -> None:
        module = source.imports.get(name)
        if module and module.startswith("deployverify.") and not module.startswith(SUITES):
            self.modules.add(module)
        elif name in source.functions:
            self.walk(source, source.functions[name])


def _fixtures(folder: Path) -> dict[str, tuple[_Source, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: dict[str, tuple[_Source, ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    plugin = Path(__file__).resolve().parents[1] / "plugin.py"
    for path in (plugin, folder / "conftest.py"):
        if not path.is_file():
            continue
        source = _parse(path)
        for name, function in source.functions.items():
            if any("fixture" in ast.unparse(d) for d in function.decorator_list):
                found[name] = (source, function)
    return found


def implementations() -> Iterator[Implementation]:
    """Every `@check` function in the suites, in file order; an id implemented twice comes out twice."""
    for package in SUITES:
        folder = shipped_folder(package)
        fixtures = _fixtures(folder)
        for file in sorted(folder.glob("test_*.py")):
            source = _parse(file)
            for function in source.functions.values():
                check_id = _check_id(function)
                if check_id is None:
                    continue
                reach = _Reach(source, fixtures)
                reach.walk(source, function, with_fixtures=True)
                yield Implementation(check_id, f"{folder.name}/{file.name}", function.name,
                                     ast.get_docstring(function) or "",
                                     tuple(sorted(reach.modules - REPORTING_MODULES)))


def proving_tests(tests_folder: Path) -> dict[tuple[str, str], list[str]]:
    """(check id, outcome) -> the tests marked `@pytest.mark.dv_outcomes(...)` as showing it; empty without tests/."""
    found: dict[tuple[str, str], list[str]] = {}
    for file in sorted(tests_folder.rglob("test_*.py")):  # tests mirror the engine's folders
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == OUTCOMES_MARKER:
                    for argument in decorator.args:
                        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                            check_id, _, outcome = argument.value.partition(":")
                            found.setdefault((check_id, outcome), []).append(
                                f"{file.relative_to(tests_folder.parent).as_posix()}::{node.name}")
    return found
