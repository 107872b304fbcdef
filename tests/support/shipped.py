"""Every Python module the package ships, with its installed name: deployverify/ plus the checks/, smoke/ and
reports/ folders that pyproject's package-dir maps into it. The project-wide tests (layers, import cycles, module
size, class names) all read the package through this one list."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Folder on disk -> its name in the installed package (pyproject's package-dir).
SHIPPED = {"deployverify": "deployverify", "checks": "deployverify.checks", "smoke": "deployverify.smoke",
           "reports": "deployverify.reports"}


def shipped_modules() -> Iterator[tuple[str, Path]]:
    """(installed module name, file) for every shipped module; generated report folders are not code."""
    for folder, package in SHIPPED.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if "out" in parts or "templates" in parts:
                continue
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            yield ".".join((package, *parts)), path


def imported_base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name a `from ... import` in `module` (file `path`) reads from: `from . import x` in a package's
    __init__ is relative to the package itself, in any other module to the module's package."""
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    anchor = package.split(".")
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)
