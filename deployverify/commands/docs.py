"""docs/checks.md, generated from the registry and the check functions (`python -m deployverify.commands.docs`).

Each check's entry says where it is implemented, which engine modules decide it and which tests show it failing
and passing; all three are read from the code (check_sources.py), so the page cannot drift from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from deployverify.commands.check_sources import Implementation, implementations, proving_tests
from deployverify.core.registry import BANDS, CHECKS

TESTS_FOLDER = Path(__file__).resolve().parents[2] / "tests"


def _tests_line(label: str, tests: list[str]) -> list[str]:
    shown = ", ".join(f"`{t}`" for t in tests) if tests else "no test is marked yet"
    return [f"- {label}: {shown}"]


def checks_markdown() -> str:
    found: dict[str, Implementation] = {}
    for each in implementations():
        found.setdefault(each.check_id, each)  # an id implemented twice fails tests/core/test_registry.py
    in_checkout = (TESTS_FOLDER.parent / "pyproject.toml").is_file()  # an installed copy has no tests of its own
    tests = proving_tests(TESTS_FOLDER) if in_checkout else {}
    lines = ["# Checks", "",
             "Generated from `deployverify/core/registry.py`, the check functions and the tests' `dv_outcomes`",
             "markers; do not edit by hand. Regenerate with `python -m deployverify.commands.docs > docs/checks.md`.",
             ""]
    for digit, band in BANDS.items():
        specs = [s for s in CHECKS.values() if s.id[2] == digit]
        if not specs:
            continue
        lines += [f"## DV{digit}xx: {band}", ""]
        for spec in specs:
            lines += [f"### {spec.id}: {spec.title}", ""]
            implementation = found.get(spec.id)
            if implementation and implementation.docstring:
                lines += [implementation.docstring, ""]
            lines += [f"Message: `{spec.template}`", ""]
            if implementation:
                engine = ", ".join(f"`{m}`" for m in implementation.engine_modules) or "the check body alone"
                lines += [f"- Implemented in `{implementation.file}::{implementation.function}`",
                          f"- Decided by {engine}"]
            lines += _tests_line("Fails in", tests.get((spec.id, "fail"), []))
            lines += _tests_line("Passes in", tests.get((spec.id, "pass"), []))
            lines += [""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(checks_markdown())
