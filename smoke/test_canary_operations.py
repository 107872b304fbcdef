"""DV616, DV619, DV621 (canary only): the DLQ against its retention, the scheduled tasks, the migration phases."""

from __future__ import annotations

from typing import Any

import pytest

from deployverify import plugin
from deployverify.canary import phases as migration
from deployverify.canary import schedules
from deployverify.canary.dlq_age import dlq_age
from deployverify.canary.window import age_text
from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.results import Finding, Severity
from deployverify.pipeline import dlq
from deployverify.target import Target


@pytest.mark.canary
@check("DV616")
def test_dlq_empty_and_nothing_expiring(target: Target, aws: Any) -> None:
    """The DLQ holds at most `canary.max_dlq_messages` (default 0) messages. The oldest parked message's age is set
    against the queue's retention: SQS deletes it when it expires, so the message says how long is left, and a
    warning comes once the oldest message has used `canary.dlq_warn_retention_percent` (default 50%) of the
    retention. The age comes from AWS/SQS ApproximateAgeOfOldestMessage; only where no metric is published is a
    message peeked for its SentTimestamp (never taken), and the evidence says which."""
    if target.dlq is None:
        dv.not_applicable("the target declares no DLQ (dlq.queue)")
    try:
        found = dlq_age(aws.client("cloudwatch"), aws.sqs, target.dlq, target.canary.window_min)
    except dlq.QueueMissing:
        dv.fail(f"DLQ `{target.dlq}` does not exist; deploy it or fix dlq.queue")
    canary = target.canary
    dv.evidence(f"`{found.queue}`: {found.depth} message(s), oldest {age_text(found.oldest_age_s)} "
                f"({found.age_source}), retention {age_text(found.retention_s)}")
    message = registry.message("DV616", queue=found.queue, count=found.depth, threshold=canary.max_dlq_messages,
                               oldest=age_text(found.oldest_age_s), left=age_text(found.left_s),
                               retention=age_text(found.retention_s))
    if found.depth > canary.max_dlq_messages:
        dv.fail(message)
    if found.depth and found.retention_percent >= canary.dlq_warn_retention_percent:
        dv.expect_no_findings([Finding("DV616", found.queue, 0, message, Severity.WARNING)])


@pytest.mark.canary
@check("DV619")
def test_scheduled_tasks(target: Target, aws: Any) -> None:
    """Each task in `canary.schedules` (function + `cron(...)`/`rate(...)` expression) has an EventBridge rule (or,
    with `kind: scheduler`, an EventBridge Scheduler schedule) that exists, is enabled, carries that expression and
    targets that function; and the function ran (AWS/Lambda Invocations) without error (Errors) since the schedule
    last fired."""
    if not target.canary.schedules:
        dv.not_applicable("the target declares no scheduled tasks (canary.schedules)")
    failures = []
    for task in target.canary.schedules:
        function = next(f for f in target.functions if task.function in (f.name, f.function_name))
        name = function.function_name or function.name
        client = aws.client("scheduler" if task.kind == "scheduler" else "events")
        state = schedules.inspect(client, aws.client("cloudwatch"), task, name)
        for line in state.evidence:
            dv.evidence(f"`{name}` {task.expression}: {line}")
        failures += [registry.message("DV619", function=name, expression=task.expression, problem=problem)
                     for problem in state.problems]
    if failures:
        dv.fail("; ".join(failures) if len(failures) > 1 else failures[0], evidence=failures)


@pytest.mark.canary
@check("DV621")
def test_migration_phases(target: Target) -> None:
    """Each phase in `canary.phases` (a name bound to check ids; the seed's: infrastructure, scaffolding, real worker
    code = DV301/DV307/DV308/DV502) is done when all its checks pass, taken from this run when they ran here, else
    from the newest of `canary.phase_reports` (earlier runs' report.json). The evidence lists every phase as done or
    not, so a phase that never completed shows every night. Run it after the checks it names (it runs last in a
    plain canary run)."""
    if not target.canary.phases:
        dv.not_applicable("the target declares no migration phases (canary.phases)")
    states = migration.phase_states(target.canary.phases, plugin.statuses_so_far(),
                                    migration.report_statuses(target.canary.phase_reports))
    for state in states:
        dv.evidence(state.describe())
    undone = [s for s in states if not s.done]
    if undone:
        dv.fail(registry.message("DV621", count=len(undone), phases="; ".join(s.describe() for s in undone)))
