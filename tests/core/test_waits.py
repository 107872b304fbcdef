"""Bounded waits: they say what they wait for, back off, and return the last state seen on timeout."""

from __future__ import annotations

import itertools

import pytest

from deployverify.core.waits import wait_for


def test_returns_when_done_with_the_state(capsys: pytest.CaptureFixture[str]) -> None:
    counter = itertools.count()
    result = wait_for("the counter to reach 3", 10, lambda: ((n := next(counter)) >= 3, n), first_delay_s=0.001)
    assert (result.done, result.last, result.polls) == (True, 3, 4)
    assert "waiting up to 10s for the counter to reach 3" in capsys.readouterr().err


def test_timeout_returns_the_last_state_seen() -> None:
    counter = itertools.count()
    result = wait_for("something that never happens", 0.05, lambda: (False, next(counter)), first_delay_s=0.001,
                      max_delay_s=0.01, announce=False)
    assert result.done is False
    assert result.last == result.polls - 1
    assert result.waited_s >= 0.05
