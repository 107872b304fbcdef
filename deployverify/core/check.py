"""What a check body uses: the `@check` marker and the outcomes a check can end with.

A check ends in exactly one of: pass (it returns), fail (`fail(...)` or a plain assert), skip (`not_applicable`),
blocked (a check it depends on failed), or error (anything else raised; the plugin records the traceback and the run
goes on). `missing(...)` is a skip on a laptop and a failure in CI, where every prerequisite must be present.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

import pytest

from deployverify.core import registry
from deployverify.core.results import Finding, Severity

F = TypeVar("F", bound=Callable[..., object])


@dataclass
class Recorder:
    """Evidence and findings a check collects while it runs, including from its fixtures."""

    evidence: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("deployverify_recorder", default=None)


class CheckFailed(AssertionError):
    def __init__(self, message: str, evidence: Iterable[str] = (), findings: Iterable[Finding] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = list(evidence)
        self.findings = list(findings)


def check(check_id: str) -> Callable[[F], F]:
    """Mark a test function as the check `check_id` from the registry."""
    registry.spec(check_id)

    def mark(function: F) -> F:
        marked: F = pytest.mark.dv_check(check_id)(function)
        return marked

    return mark


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def fail(message: str, *, evidence: Iterable[str] = (), findings: Iterable[Finding] = ()) -> NoReturn:
    __tracebackhide__ = True
    raise CheckFailed(message, evidence, findings)


def not_applicable(reason: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.skip(f"not applicable: {reason}")


def blocked(by: str, reason: str = "") -> NoReturn:
    """A prerequisite check failed; that check carries the failure, this one says only which check blocked it.

    The message is the one line `blocked by DV101`. `reason` is the call site's note of what failed; it is not
    printed, because the blocking check already says it once (a build error repeated in 24 blocked checks buried
    the one line that mattered).
    """
    __tracebackhide__ = True
    del reason
    pytest.skip(f"blocked by {by}")


def missing(what: str, reason: str, fix: str) -> NoReturn:
    __tracebackhide__ = True
    text = registry.message("DV001", what=what, reason=reason, fix=fix)
    if in_ci():
        raise CheckFailed(f"{text} (CI=true: a missing prerequisite is a failure)")
    pytest.skip(text)


def evidence(*lines: str) -> None:
    recorder = _current.get()
    if recorder is not None:
        recorder.evidence.extend(lines)


def record(*findings: Finding) -> None:
    recorder = _current.get()
    if recorder is not None:
        recorder.findings.extend(findings)


def expect_no_findings(findings: Iterable[Finding], *, what: str = "finding") -> None:
    """Record every finding; fail with the first error-severity one quoted, warnings do not fail."""
    __tracebackhide__ = True
    found = list(findings)
    record(*found)
    errors = [f for f in found if f.severity is Severity.ERROR]
    if errors:
        more = f" (and {len(errors) - 1} more {what}{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        fail(errors[0].message + more)


def start_recording() -> tuple[Recorder, contextvars.Token[Recorder | None]]:
    recorder = Recorder()
    return recorder, _current.set(recorder)


def stop_recording(token: contextvars.Token[Recorder | None]) -> None:
    _current.reset(token)
