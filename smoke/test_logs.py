"""DV510-DV512: the worker's CloudWatch Logs show each document's invocation, no runtime errors, no slow REPORT."""

from __future__ import annotations

from pathlib import Path

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.pipeline import verdicts
from deployverify.pipeline.records import DocumentOutcome
from deployverify.target import Target


def _blocked_if_not_sent(outcome: DocumentOutcome) -> None:
    if outcome.pushed.error or outcome.document_id is None:
        dv.blocked("DV501", f"`{Path(outcome.file).name}` was never sent")


@check("DV510")
def test_invocation_in_logs(outcome: DocumentOutcome, target: Target) -> None:
    """An invocation naming the document id is in the function's log group within the run's window, and its lines
    (attached as evidence) carry every `logs.markers` line the target expects (e.g. "Database connection
    established"): a worker that only says "Processing document 42" has not done the work."""
    _blocked_if_not_sent(outcome)
    group = outcome.logs.group or "(no log group: set logs.group)"
    if outcome.logs.error and not outcome.logs.invocations:
        dv.fail(registry.message("DV510", document_id=outcome.document_id, problem=outcome.logs.error, group=group,
                                 fix="give the function a log group the deployverify identity can read"))
    if not outcome.logs.invocations:
        dv.fail(registry.message("DV510", document_id=outcome.document_id, problem="no log line mentions it",
                                 group=group, fix=verdicts.not_reached_fix(outcome)), evidence=outcome.logs.tail)
    for invocation in outcome.logs.invocations:
        dv.evidence(f"invocation {invocation.request_id}:", *invocation.lines)
    text = "\n".join(line for i in outcome.logs.invocations for line in i.lines)
    for template in target.logs.markers:
        marker = template.replace("{document_id}", str(outcome.document_id))
        if marker not in text:
            ids = ", ".join(i.request_id for i in outcome.logs.invocations)
            fix = (f"its invocations failed before that step: `{outcome.logs.problems[0]}` (see DV511)"
                   if outcome.logs.problems else "the handler never did that step: connect the real implementation")
            dv.fail(registry.message("DV510", document_id=outcome.document_id,
                                     problem=f"invocation {ids} never logged `{marker}`", group=group, fix=fix))


@check("DV511")
def test_no_runtime_errors(outcome: DocumentOutcome) -> None:
    """Neither the document's invocations nor the function's init in the run's window log a `Runtime.*` error
    (e.g. `Runtime.ImportModuleError`), a Python traceback or a timeout."""
    _blocked_if_not_sent(outcome)
    group = outcome.logs.group or "(no log group)"
    found = [*outcome.logs.init_errors, *outcome.logs.problems]
    for invocation in outcome.logs.invocations:
        if invocation.error_type:
            found.append(f"REPORT Status: {invocation.status} Error Type: {invocation.error_type}")
    if found:
        dv.fail(registry.message("DV511", line=found[0], group=group),
                evidence=[*found[1:], *(line for i in outcome.logs.invocations for line in i.lines)])
    ids = ", ".join(i.request_id for i in outcome.logs.invocations) or "none"
    dv.evidence(f"document {outcome.document_id}: invocations {ids}; no Runtime.* error, traceback or timeout")


@check("DV512")
def test_duration_within_limit(outcome: DocumentOutcome, target: Target) -> None:
    """Each REPORT line of the document's invocations shows a duration within `logs.max_duration_ms` (or, when that
    is not set, the function's timeout)."""
    _blocked_if_not_sent(outcome)
    limit = target.logs.max_duration_ms
    if limit is None:
        timeouts = [f.timeout_s for f in target.functions if f.timeout_s]
        if not timeouts:
            dv.not_applicable("neither logs.max_duration_ms nor functions[].timeout_s is set")
        limit = min(timeouts) * 1000
    reports = [i for i in outcome.logs.invocations if i.duration_ms is not None]
    if not reports:
        dv.blocked("DV510", f"no REPORT line for document {outcome.document_id}")
    for invocation in reports:
        dv.evidence(f"{invocation.request_id}: {invocation.duration_ms} ms (limit {limit} ms)")
        assert invocation.duration_ms is not None
        if invocation.duration_ms > limit:
            dv.fail(registry.message("DV512", request_id=invocation.request_id,
                                     duration_ms=round(invocation.duration_ms), limit_ms=limit))
