"""The layer order of pyproject's [tool.importlinter], applied to every module the package ships.

`lint-imports` walks deployverify/ on disk and cannot see checks/, smoke/ and reports/, which join the package as
deployverify.checks/.smoke/.reports only through package-dir. This test reads the same layer table and holds every
shipped module, those three included, to it: an import goes down the table or stays inside its own row's package.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.shipped import ROOT, imported_base, shipped_modules


def layer_rows() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers" and "containers" not in c)
    return [[name.strip().strip("()") for name in row.split("|")] for row in contract["layers"]]


def place(module: str, rows: list[list[str]]) -> tuple[int, str] | None:
    """(row index, the layer's package) for a module, or None for the bare `deployverify` package."""
    for index, row in enumerate(rows):
        for name in row:
            if module == name or module.startswith(name + "."):
                return index, name
    return None


def deployverify_imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [imported_base(module, path, node)]
        else:
            continue
        yield from ((name, node.lineno) for name in names if name.startswith("deployverify."))


def test_every_row_names_a_package_that_exists() -> None:
    """A renamed package would otherwise drop out of the contract silently (import-linter skips optional rows)."""
    shipped = {module for module, _ in shipped_modules()}
    missing = [name for row in layer_rows() for name in row if name not in shipped]
    assert missing == []


def test_imports_go_down_the_layers() -> None:
    rows = layer_rows()
    upward = []
    for module, path in shipped_modules():
        own = place(module, rows)
        if own is None:
            continue
        for imported, line in deployverify_imports(module, path):
            other = place(imported, rows)
            if other is None or other[1] == own[1]:
                continue
            if other[0] <= own[0]:
                upward.append(f"{path.relative_to(ROOT)}:{line} {module} imports {imported}")
    assert upward == [], "imports against the layer order in pyproject's [tool.importlinter]"


@pytest.mark.parametrize(("importer", "imported", "allowed"), [
    ("deployverify.checks.test_build", "deployverify.gate.build.cached", True),
    ("deployverify.reports.html", "deployverify.plugin", False),
    ("deployverify.checks.conftest", "deployverify.smoke.conftest", False),
    ("deployverify.core.check", "deployverify.target.model", False),
])
def test_the_rule_itself(importer: str, imported: str, allowed: bool) -> None:
    """The rule this file applies: strictly down the table, and never sideways within a `|` row."""
    rows = layer_rows()
    own, other = place(importer, rows), place(imported, rows)
    assert own is not None
    assert other is not None
    assert (other[0] > own[0]) is allowed
