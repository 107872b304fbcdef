"""The canary's engine on its own: schedule expressions, EventBridge Scheduler schedules and the "ran since it last
fired" rule against a moto server, the p95 from REPORT lines, stuck rows of verification runs left out, migration
phases from earlier reports, the cost arithmetic, the canary metric."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployverify.canary import cost, phases, schedules, stuck_work
from deployverify.canary import schedule_expressions as expressions
from deployverify.canary.metrics import LOGS_SOURCE, lambda_window, percentile
from deployverify.canary.publish import publish_result
from deployverify.canary.window import Window
from deployverify.target.model import Canary, CanaryMetric, MigrationPhase, Pipeline, ScheduledTask
from tests.support import canary_seed as seed
from tests.support.smoke_env import Database, aws_client

pytest_plugins = ("tests.support.smoke_fixtures",)
MONDAY_NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)  # a Monday


@pytest.mark.parametrize(("expression", "expected"), [
    ("cron(0 8 * * ? *)", dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)),
    ("cron(0 9 ? * MON *)", dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)),
    ("cron(0 9 ? * 2 *)", dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)),  # 2 = Monday in EventBridge
    ("cron(0 13 ? * MON-FRI *)", dt.datetime(2026, 11, 27, 13, 0, tzinfo=dt.UTC)),  # Friday before
    ("cron(30 */6 * * ? *)", dt.datetime(2026, 11, 30, 6, 30, tzinfo=dt.UTC)),
    ("cron(0 0 1 JAN ? *)", dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)),
    ("rate(1 day)", MONDAY_NOON - dt.timedelta(days=1)),
    ("rate(15 minutes)", MONDAY_NOON - dt.timedelta(minutes=15)),
])
def test_last_fire(expression: str, expected: dt.datetime) -> None:
    assert expressions.last_fire(expression, MONDAY_NOON) == expected


@pytest.mark.parametrize("expression", ["cron(0 9 L * ? *)", "cron(0 9 ? * 2#1 *)", "cron(0 9 * *)", "every day"])
def test_unsupported_expressions_are_said(expression: str) -> None:
    with pytest.raises(expressions.Unsupported):
        expressions.last_fire(expression, MONDAY_NOON)


@pytest.fixture
def aws(moto_url: str) -> Any:
    return lambda service: aws_client(service, moto_url)


def test_scheduler_schedule_exists_enabled_and_the_function_ran(aws: Any) -> None:
    function = "sched-fn-ok"
    aws("scheduler").create_schedule(
        Name="digest", ScheduleExpression="cron(0 9 * * ? *)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": seed.LAMBDA_ARN.format(name=function), "RoleArn": "arn:aws:iam::123456789012:role/x"})
    task = ScheduledTask(function=function, expression="cron(0 9 * * ? *)", kind="scheduler")
    before = schedules.inspect(aws("scheduler"), aws("cloudwatch"), task, function)
    seed.lambda_metrics(aws("cloudwatch"), function, Invocations=1, Errors=0)
    after = schedules.inspect(aws("scheduler"), aws("cloudwatch"), task, function)

    assert len(before.problems) == 1
    assert before.problems[0].startswith(f"`{function}` did not run since the schedule last fired (")
    assert after.problems == []
    assert "EventBridge Scheduler schedule `digest`: cron(0 9 * * ? *), enabled" in after.evidence[0]


def test_a_scheduled_run_with_errors_or_another_target_fails(aws: Any) -> None:
    function = "sched-fn-err"
    seed.schedule_rule(aws("events"), "expiring", "cron(0 8 * * ? *)", function)
    seed.schedule_rule(aws("events"), "elsewhere", "cron(0 8 * * ? *)", "another-fn")
    seed.lambda_metrics(aws("cloudwatch"), function, Invocations=1, Errors=1)
    errors = schedules.inspect(aws("events"), aws("cloudwatch"),
                               ScheduledTask(function=function, expression="cron(0 8 * * ? *)"), function)
    other = schedules.inspect(aws("events"), aws("cloudwatch"),
                              ScheduledTask(function=function, expression="cron(0 8 * * ? *)", rule="elsewhere"),
                              function)

    assert len(errors.problems) == 1
    assert errors.problems[0].startswith(f"`{function}` reported 1 error(s) since the schedule last fired")
    assert other.problems == [f"EventBridge rule `elsewhere` targets {seed.LAMBDA_ARN.format(name='another-fn')}, "
                              f"not `{function}`"]


def test_p95_comes_from_report_lines_when_the_endpoint_cannot_compute_it(aws: Any) -> None:
    function, group = "p95-fn", "/aws/lambda/p95-fn"
    aws("logs").create_log_group(logGroupName=group)
    seed.lambda_metrics(aws("cloudwatch"), function, Invocations=100, Duration=[1000.0, 9000.0])
    seed.report_lines(aws("logs"), group, [float(ms) for ms in range(1000, 101000, 1000)], spread_s=60)
    seen = lambda_window(aws("cloudwatch"), aws("logs"), function, group, Window.last(60), 900)

    assert (seen.p95_ms, seen.p95_source, seen.reports) == (95000.0, LOGS_SOURCE, 100)
    assert seen.max_ms == 100000.0
    assert seen.timeouts == ()
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0


@pytest.fixture
def service_rows(scratch_database: Database) -> Iterator[Database]:
    seed.clear_service_rows(scratch_database)
    yield scratch_database
    seed.clear_service_rows(scratch_database)


def test_rows_of_verification_runs_are_never_counted_as_stuck(service_rows: Database) -> None:
    seed.add_rows(service_rows, "uploaded", 3, age_s=3 * 86400)
    with service_rows.connect() as conn, conn.cursor() as cur:
        cur.execute("UPDATE documents SET run_id = 'dv-some-run' WHERE id = (SELECT min(id) FROM documents)")
    pipe = Pipeline(bucket="b", documents=())
    with service_rows.connect() as conn:
        stuck = stuck_work.stuck_work(conn, pipe, "updated_at", 60)
        with pytest.raises(stuck_work.StatusTableMissing) as missing_column:
            stuck_work.stuck_work(conn, pipe, "touched", 60)

    assert (stuck.count, stuck.by_status, len(stuck.sample_ids)) == (2, {"uploaded": 2}, 2)
    assert 3 * 86400 - 60 < stuck.oldest_age_s < 3 * 86400 + 600
    assert "has no column `touched` (canary.timestamp_column)" in str(missing_column.value)


def test_phases_take_this_run_first_then_the_newest_report(tmp_path: Path) -> None:
    for name, finished, status in (("old", "2026-11-01T00:00:00Z", "pass"), ("new", "2026-12-01T00:00:00Z", "fail")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps({
            "mode": "gate", "run_id": name, "finished_at": finished,
            "checks": [{"id": "DV307", "status": status}, {"id": "DV301", "status": "pass"}]}))
    earlier = phases.report_statuses([tmp_path / "old", tmp_path / "new", tmp_path / "absent.json"])
    states = phases.phase_states(
        [MigrationPhase("infrastructure", ("DV301",)), MigrationPhase("real worker code", ("DV307", "DV502"))],
        {"DV502": "pass"}, earlier)

    assert [s.done for s in states] == [True, False]
    assert states[1].describe() == "phase `real worker code`: NOT DONE (DV307 fail (gate new), DV502 pass)"


def test_cost_shows_its_arithmetic() -> None:
    estimate = cost.estimate(invocations=200, duration_sum_ms=200 * 30000, memory_mb=1024, documents=5,
                             window_s=86400, window="24 h", ai_per_document_usd=0.023, budget_usd=10,
                             architecture="x86_64")

    assert round(estimate.month_usd, 2) == 6.45
    assert not estimate.over
    assert estimate.arithmetic() == (
        "$6.45 = 6,000 requests x $0.20/M ($0.00) + 180,000.0 GB-s x $0.0000166667 ($3.00) + 150 documents x "
        "$0.023 ($3.45); the 24 h window's 200 invocation(s), 6,000.0 GB-s and 5 document(s) x 30")


def test_the_canary_metric_lands_under_the_targets_namespace_and_dimensions(aws: Any) -> None:
    from deployverify.target.model import Bundle, Function, Target

    target = Target(name="t", runtime="python3.11", functions=(Function("f", "m.h"),), bundle=Bundle(Path(".")),
                    canary=Canary(metric=CanaryMetric("ops/canary", {"Service": "docworker", "Stage": "prod"})))
    publish_result(aws("cloudwatch"), target, passed=False, duration_s=12.5)
    metrics = aws("cloudwatch").list_metrics(Namespace="ops/canary")["Metrics"]

    assert sorted(m["MetricName"] for m in metrics) == ["DurationSeconds", "Success"]
    assert all(sorted(d["Name"] for d in m["Dimensions"]) == ["Service", "Stage"] for m in metrics)


def test_the_queue_age_comes_from_the_metric_without_touching_the_queue(aws: Any) -> None:
    """With a published ApproximateAgeOfOldestMessage the canary reads the metric and never receives from the queue
    (a receive would raise the message's receive count); without one it peeks, and says so."""
    from deployverify.canary.operations import oldest_message_age

    sqs = aws("sqs")
    with_metric = sqs.create_queue(QueueName="canary-age-metric")["QueueUrl"]
    without = sqs.create_queue(QueueName="canary-age-peek")["QueueUrl"]
    for url in (with_metric, without):
        sqs.send_message(QueueUrl=url, MessageBody="live work the canary did not create")
    aws("cloudwatch").put_metric_data(Namespace="AWS/SQS", MetricData=[{
        "MetricName": "ApproximateAgeOfOldestMessage", "Value": 42.0, "Timestamp": dt.datetime.now(dt.UTC),
        "Dimensions": [{"Name": "QueueName", "Value": "canary-age-metric"}]}])

    measured = oldest_message_age(aws("cloudwatch"), sqs, with_metric, 60)
    peeked = oldest_message_age(aws("cloudwatch"), sqs, without, 60)

    assert (measured.age_s, measured.source) == (42, "AWS/SQS ApproximateAgeOfOldestMessage (max over 60 min)")
    assert "peeked" in peeked.source
    counts = {url: sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
              ["Attributes"]["ApproximateReceiveCount"] for url in (with_metric, without)}
    assert counts == {with_metric: "1", without: "2"}  # this test's own receive is the first on the metric's queue
