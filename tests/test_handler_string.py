"""DV210's rules, table-driven: the handler string as the runtime splits it."""

from __future__ import annotations

import pytest

from deployverify.gate.handler_check import BUILTIN_MODULES, handler_string_problem


@pytest.mark.parametrize(("handler", "error_type"), [
    ("app.handler", None),
    ("src/app.handler", None),
    ("pkg.sub.module.handler", None),
    ("handler", "Runtime.MalformedHandlerName"),
    (".handler", "Runtime.MalformedHandlerName"),
    ("app.", "Runtime.MalformedHandlerName"),
    ("a..b.handler", "Runtime.MalformedHandlerName"),
    ("time.handler", "Runtime.BuiltInModuleConflict"),
    ("sys.handler", "Runtime.BuiltInModuleConflict"),
    ("gc.tasks.handler", "Runtime.BuiltInModuleConflict"),
    ("timeutils.handler", None),
])
def test_handler_string(handler: str, error_type: str | None) -> None:
    problem = handler_string_problem(handler)
    assert (problem.error_type if problem else None) == error_type


def test_builtin_table_matches_this_interpreter() -> None:
    """Every name in the table is really built into CPython here (the runtime uses the same upstream Setup)."""
    import sys

    assert set(BUILTIN_MODULES) <= set(sys.builtin_module_names)
