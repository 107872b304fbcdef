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


@pytest.mark.parametrize(("handler", "reason"), [
    ("handler", "Bad handler 'handler': no dot"),
    (".handler", "Bad handler '.handler': the module name is empty"),
    ("a..b.handler", "Bad handler 'a..b.handler': empty segment in module 'a..b'"),
])
def test_dv210_quotes_the_one_parsers_reason(handler: str, reason: str) -> None:
    """DV210 and the target loader reject a handler for the same reason: both go through core/handler.py."""
    from deployverify.core.handler import MalformedHandlerName, parse_handler

    problem = handler_string_problem(handler)
    assert problem is not None
    assert problem.reason == reason
    with pytest.raises(MalformedHandlerName, match=reason.replace(".", r"\.")):
        parse_handler(handler)
