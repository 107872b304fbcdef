"""Scheduled tasks as deployed: the EventBridge rule (or EventBridge Scheduler schedule) that runs a function exists,
is enabled, carries the declared expression and targets the function; and the function ran without error since the
schedule last fired (AWS/Lambda Invocations and Errors between that moment and now)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from deployverify.canary import schedule_expressions as expressions
from deployverify.canary.metrics import invocation_sums
from deployverify.canary.window import Window
from deployverify.target.model import ScheduledTask

# The function needs a moment to run and CloudWatch a moment to publish: a schedule that fired within this many
# minutes is judged on the run before.
GRACE_MIN = 15


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str
    enabled: bool
    targets: tuple[str, ...]  # target ARNs


@dataclass
class TaskState:
    task: ScheduledTask
    function_name: str
    schedule: Schedule | None = None
    problems: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def function_of(arn: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` -> NAME (a bare name is returned as is)."""
    return arn.split(":function:", 1)[1].split(":", 1)[0] if ":function:" in arn else arn


def _rule(events: Any, name: str) -> Schedule | None:
    try:
        rule = events.describe_rule(Name=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
    return Schedule(name=name, expression=str(rule.get("ScheduleExpression", "")),
                    enabled=rule.get("State") == "ENABLED", targets=tuple(str(t["Arn"]) for t in targets))


def _rules_for(events: Any, function_name: str) -> list[Schedule]:
    found: list[Schedule] = []
    for page in events.get_paginator("list_rules").paginate():
        for rule in page.get("Rules", []):
            if rule.get("ScheduleExpression"):
                schedule = _rule(events, str(rule["Name"]))
                if schedule and any(function_of(t) == function_name for t in schedule.targets):
                    found.append(schedule)
    return found


def _scheduler(scheduler: Any, name: str, group: str) -> Schedule | None:
    try:
        found = scheduler.get_schedule(Name=name, GroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return Schedule(name=name, expression=str(found.get("ScheduleExpression", "")),
                    enabled=found.get("State", "ENABLED") == "ENABLED",
                    targets=(str(found.get("Target", {}).get("Arn", "")),))


def _schedules_for(scheduler: Any, function_name: str, group: str) -> list[Schedule]:
    found: list[Schedule] = []
    for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group):
        for item in page.get("Schedules", []):
            schedule = _scheduler(scheduler, str(item["Name"]), group)
            if schedule and any(function_of(t) == function_name for t in schedule.targets):
                found.append(schedule)
    return found


def find_schedule(client: Any, task: ScheduledTask, function_name: str) -> Schedule | None:
    """The schedule the task declares: by its name, else the one targeting the function with the declared expression,
    else any one targeting the function (so the check names the expression that is there instead)."""
    if task.rule:
        return _scheduler(client, task.rule, task.group) if task.kind == "scheduler" else _rule(client, task.rule)
    if task.kind == "scheduler":
        candidates = _schedules_for(client, function_name, task.group)
    else:
        candidates = _rules_for(client, function_name)
    wanted = expressions.normalise(task.expression)
    exact = [s for s in candidates if expressions.normalise(s.expression) == wanted]
    return (exact or candidates)[0] if candidates else None


def inspect(client: Any, cloudwatch: Any, task: ScheduledTask, function_name: str,
            now: dt.datetime | None = None) -> TaskState:
    state = TaskState(task, function_name)
    kind = "EventBridge Scheduler schedule" if task.kind == "scheduler" else "EventBridge rule"
    schedule = find_schedule(client, task, function_name)
    if schedule is None:
        named = f" `{task.rule}`" if task.rule else f" targeting `{function_name}`"
        state.problems.append(f"no {kind}{named} exists")
        return state
    state.schedule = schedule
    state.evidence.append(f"{kind} `{schedule.name}`: {schedule.expression}, "
                          f"{'enabled' if schedule.enabled else 'DISABLED'}, targets {', '.join(schedule.targets)}")
    if not schedule.enabled:
        state.problems.append(f"{kind} `{schedule.name}` is disabled")
    if expressions.normalise(schedule.expression) != expressions.normalise(task.expression):
        state.problems.append(f"{kind} `{schedule.name}` has `{schedule.expression}`, not `{task.expression}`")
    if not any(function_of(t) == function_name for t in schedule.targets):
        state.problems.append(f"{kind} `{schedule.name}` targets {', '.join(schedule.targets) or 'nothing'}, "
                              f"not `{function_name}`")
    if not state.problems:
        _ran_since_last_fire(cloudwatch, state, now or dt.datetime.now(dt.UTC))
    return state


def _ran_since_last_fire(cloudwatch: Any, state: TaskState, now: dt.datetime) -> None:
    try:
        fired = expressions.last_fire(state.task.expression, now - dt.timedelta(minutes=GRACE_MIN))
    except expressions.Unsupported as exc:
        state.evidence.append(f"last run not verified: {exc}")
        return
    window = Window(fired, now + dt.timedelta(minutes=1))  # endpoints cut EndTime to the second: keep this minute
    seen = invocation_sums(cloudwatch, state.function_name, window)
    state.evidence.append(f"since it last fired at {fired:%Y-%m-%d %H:%M} UTC: {seen.invocations:g} invocation(s), "
                          f"{seen.errors:g} error(s)")
    if seen.invocations == 0:
        state.problems.append(f"`{state.function_name}` did not run since the schedule last fired "
                              f"({fired:%Y-%m-%d %H:%M} UTC)")
    elif seen.errors:
        state.problems.append(f"`{state.function_name}` reported {seen.errors:g} error(s) since the schedule last "
                              f"fired ({fired:%Y-%m-%d %H:%M} UTC)")
