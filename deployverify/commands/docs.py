"""docs/checks.md, generated from the registry and the checks' docstrings (`python -m deployverify.commands.docs`)."""

from __future__ import annotations

import ast
import sys

from deployverify.commands.suite import shipped_folder
from deployverify.core.registry import BANDS, CHECKS


def check_docstrings() -> dict[str, tuple[str, str]]:
    """Check id -> (suite file, docstring) for every `@check("DVnnn")` test function in checks/ and smoke/."""
    found: dict[str, tuple[str, str]] = {}
    for package in ("deployverify.checks", "deployverify.smoke"):
        folder = shipped_folder(package)
        for file in sorted(folder.glob("test_*.py")):
            tree = ast.parse(file.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for decorator in node.decorator_list:
                        if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "check"
                                and decorator.args and isinstance(decorator.args[0], ast.Constant)):
                            found[str(decorator.args[0].value)] = (
                                f"{folder.name}/{file.name}", ast.get_docstring(node) or "")
    return found


def checks_markdown() -> str:
    docs = check_docstrings()
    lines = ["# Checks", "",
             "Generated from `deployverify/core/registry.py` and the check functions; do not edit by hand.",
             "Regenerate with `python -m deployverify.commands.docs > docs/checks.md`.", ""]
    for digit, band in BANDS.items():
        specs = [s for s in CHECKS.values() if s.id[2] == digit]
        if not specs:
            continue
        lines += [f"## DV{digit}xx: {band}", ""]
        for spec in specs:
            where, doc = docs.get(spec.id, ("", ""))
            lines += [f"### {spec.id}: {spec.title}", ""]
            if doc:
                lines += [doc, ""]
            lines += [f"Message: `{spec.template}`", ""]
            if where:
                lines += [f"Implemented in `{where}`.", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(checks_markdown())
