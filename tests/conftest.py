"""Fixtures shared by the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.core import redact
from tests.support import outcomes


@pytest.fixture(autouse=True)
def isolated_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secrets: values one test registers (the test database's password is
    `deployverify`) must not mask another test's expected output."""
    monkeypatch.setattr(redact, "_values", set())
    monkeypatch.setattr(redact, "_pattern", None)


# -- dv_outcomes: a test's claim about which check statuses it shows is checked, not just listed ---------------------

_claims: dict[str, set[str]] = {}  # test function -> the outcomes its marker claims
_items: dict[str, int] = {}  # test function -> its collected items (parametrised cases)
_passed: dict[str, int] = {}


def _function_id(item: pytest.Item) -> str:
    return item.nodeid.split("[", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("dv_outcomes")
        if marker is not None:
            _claims[_function_id(item)] = set(marker.args)
            _items[_function_id(item)] = _items.get(_function_id(item), 0) + 1


def pytest_runtest_setup(item: pytest.Item) -> None:
    outcomes.start(_function_id(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """Besides the statuses a test reads, every report.json its runs wrote under tmp_path counts as seen."""
    try:
        return (yield)
    finally:
        folder = getattr(item, "funcargs", {}).get("tmp_path")
        if item.get_closest_marker("dv_outcomes") is not None and isinstance(folder, Path):
            outcomes.observe_reports(folder)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        function = report.nodeid.split("[", 1)[0]
        _passed[function] = _passed.get(function, 0) + 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Only a test function whose every case ran and passed is judged: a -k selection or a skip proves nothing."""
    unproven = {function: sorted(claimed - outcomes.OBSERVED.get(function, set()))
                for function, claimed in _claims.items() if _passed.get(function, 0) == _items[function]}
    unproven = {function: missing for function, missing in unproven.items() if missing}
    if unproven:
        lines = [f"{function} is marked dv_outcomes{tuple(missing)} but no run it read gave that status"
                 for function, missing in unproven.items()]
        session.config.get_terminal_writer().line("\n" + "\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
