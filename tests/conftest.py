"""Fixtures shared by the harness's own tests."""

from __future__ import annotations

import pytest

from deployverify.core import redact


@pytest.fixture(autouse=True)
def isolated_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secrets: values one test registers (the test database's password is
    `deployverify`) must not mask another test's expected output."""
    monkeypatch.setattr(redact, "_values", set())
    monkeypatch.setattr(redact, "_pattern", None)
