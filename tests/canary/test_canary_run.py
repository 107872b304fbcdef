"""`deployverify canary` through the real CLI against a moto server, the real Postgres and data seeded for the
purpose: every operational check (DV610-DV621) passes on a healthy window and fails on a broken one, the seed's
incident (rows left in `uploaded` for days while the function reports no error) fails the canary naming the count
and the oldest age, and the canary's own result is in CloudWatch afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.suites import test_smoke_suite as suite
from tests.support import canary_seed as seed
from tests.support.smoke_env import Resources

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
OPERATIONS = "DV61 or DV62"
OPERATIONAL_IDS = [f"DV6{n}" for n in range(10, 22)]
DAILY = "cron(0 8 * * ? *)"


@pytest.fixture(autouse=True)
def no_service_rows(resources: Resources) -> Iterator[None]:
    seed.clear_service_rows(resources.database)
    yield
    seed.clear_service_rows(resources.database)


def canary_metric(resources: Resources, target_name: str) -> list[float]:
    points = resources.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "success", "MetricStat": {"Metric": {
            "Namespace": "deployverify/canary", "MetricName": "Success",
            "Dimensions": [{"Name": "Target", "Value": target_name}]}, "Period": 60, "Stat": "Minimum"}}],
        StartTime=_ago(600), EndTime=_ago(-60))["MetricDataResults"][0]["Values"]
    return [float(p) for p in points]


def _ago(seconds: int) -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


def gate_report(folder: Path, statuses: dict[str, str]) -> Path:
    path = folder / "gate-report.json"
    path.write_text(json.dumps({"mode": "gate", "run_id": "gate-1", "finished_at": "2026-12-01T00:00:00Z",
                                "checks": [{"id": k, "status": v} for k, v in statuses.items()]}))
    return path


# The markers are read by ast (docs/checks.md): literal ids, not a comprehension over OPERATIONAL_IDS.
@pytest.mark.dv_outcomes("DV610:pass", "DV611:pass", "DV612:pass", "DV613:pass", "DV614:pass", "DV615:pass",
                         "DV616:pass", "DV617:pass", "DV618:pass", "DV619:pass", "DV620:pass", "DV621:pass")
def test_a_healthy_window_passes_every_operational_check(resources: Resources, tmp_path: Path) -> None:
    report = gate_report(tmp_path, {"DV301": "pass", "DV307": "pass", "DV308": "pass"})
    canary = {"window_min": 1440, "ai_cost_per_document_usd": 0.02,
              "schedules": [{"function": "DocumentWorkerFunction", "expression": DAILY}],
              "phases": [{"name": "scaffolding", "checks": ["DV301", "DV307"]},
                         {"name": "real worker code", "checks": ["DV308", "DV612"]}],
              "phase_reports": [str(report)]}
    with suite.stack(resources, tmp_path, None, canary=canary) as target:
        seed.add_rows(resources.database, "processed", 5, age_s=3600)  # the seed: 50-200 documents a month
        seed.add_rows(resources.database, "processing", 2, age_s=30)  # in flight, not stuck
        seed.lambda_metrics(resources.client("cloudwatch"), resources.function, Invocations=100, Errors=0,
                            Duration=[2000.0, 4000.0])
        seed.report_lines(resources.client("logs"), resources.log_group, [1500.0 + 30 * i for i in range(100)],
                          spread_s=1800)
        seed.schedule_rule(resources.client("events"), f"{resources.prefix}-daily", DAILY, resources.function)
        run = suite.smoke(resources, tmp_path, target, "-k", OPERATIONS, mode="canary", name="healthy")

    assert {i: run.status(i) for i in OPERATIONAL_IDS} == dict.fromkeys(OPERATIONAL_IDS, "pass"), run.report
    assert run.code == 0
    evidence = "\n".join(line for c in run.report["checks"] for line in c["evidence"])
    assert "REPORT lines in CloudWatch Logs" in evidence  # moto cannot compute p95: the source is said
    assert "read only: the canary ran SELECTs on production rows and never changes or removes" in evidence
    assert "phase `real worker code`: done (DV308 pass (gate gate-1), DV612 pass)" in evidence
    assert canary_metric(resources, resources.prefix) == [1.0]


@pytest.mark.dv_outcomes("DV610:fail", "DV612:fail", "DV613:fail", "DV614:fail", "DV615:fail", "DV616:fail",
                         "DV617:fail", "DV618:fail", "DV619:fail", "DV620:fail", "DV621:fail")
def test_a_broken_window_fails_every_operational_check(resources: Resources, tmp_path: Path) -> None:
    canary = {"window_min": 10, "max_queue_age_s": 900, "ai_cost_per_document_usd": 0.5,
              "max_db_connections_percent": 0.01,
              "schedules": [
                  {"function": "DocumentWorkerFunction", "expression": DAILY, "rule": f"{resources.prefix}-gone"},
                  {"function": "DocumentWorkerFunction", "expression": DAILY, "rule": f"{resources.prefix}-off"},
                  {"function": "DocumentWorkerFunction", "expression": DAILY, "rule": f"{resources.prefix}-wrong"}],
              "phases": [{"name": "real worker code", "checks": ["DV308", "DV502"]}]}
    with suite.stack(resources, tmp_path, None, canary=canary) as target:
        seed.add_rows(resources.database, "uploaded", 180, age_s=45 * 86400)
        seed.add_rows(resources.database, "processed", 10, age_s=60)
        seed.add_rows(resources.database, "failed", 5, age_s=60)
        seed.lambda_metrics(resources.client("cloudwatch"), resources.function, Invocations=100, Errors=5)
        seed.report_lines(resources.client("logs"), resources.log_group, [150000.0] * 20, timed_out=1)
        seed.park(resources.client("sqs"), resources.dlq_url)
        events = resources.client("events")
        seed.schedule_rule(events, f"{resources.prefix}-off", DAILY, resources.function, enabled=False)
        seed.schedule_rule(events, f"{resources.prefix}-wrong", "cron(0 9 * * ? *)", resources.function)
        resources.client("lambda").delete_function_concurrency(FunctionName=resources.function)
        run = suite.smoke(resources, tmp_path, target, "-k", OPERATIONS, mode="canary", name="broken")

    assert run.code == 1
    statuses = {i: run.status(i) for i in OPERATIONAL_IDS if i != "DV611"}  # the trigger queue is empty: DV611 passes
    assert statuses == dict.fromkeys(statuses, "fail"), {i: run.message(i) for i in statuses}
    assert run.message("DV612").startswith("180 row(s) of `documents` sit in `uploaded` (180) for more than 60 min "
                                           "(oldest 45.0 days")
    assert "10 of 15 document(s) finished in the last 10 min were `processed` (66.7%, target > 95%)" in \
        run.message("DV613")
    assert "error rate 5.0% (5 error(s) in 100 invocation(s); target < 1%)" in run.message("DV614")
    assert "duration p95 150.0 s (from REPORT lines in CloudWatch Logs; target < 120 s)" in run.message("DV614")
    assert "1 invocation(s) hit the 900s timeout in the last 10 min (allowed 0" in run.message("DV615")
    assert "holds 1 message(s) (allowed 0); the oldest is" in run.message("DV616")
    assert "(retention 4.0 days)" in run.message("DV616")
    assert "limit 0.01%" in run.message("DV617")
    assert run.message("DV618") == (f"`{resources.function}`: no reserved concurrency; set ReservedConcurrentExecutions"
                                    " to what the database can serve")
    assert f"no EventBridge rule `{resources.prefix}-gone` exists" in run.message("DV619")
    assert f"EventBridge rule `{resources.prefix}-off` is disabled" in run.message("DV619")
    assert f"has `cron(0 9 * * ? *)`, not `{DAILY}`" in run.message("DV619")
    assert run.message("DV620").startswith(
        "estimated month $32616.09 = 432,000 requests x $0.20/M ($0.09) + 12,960,000.0 GB-s x $0.0000166667 "
        "($216.00) + 64,800 documents x $0.5 ($32400.00); the 10 min window's 100 invocation(s), 3,000.0 GB-s and "
        "15 document(s) x 4320; over the $10.00 budget")
    assert "phase `real worker code`: NOT DONE (DV308 not run (no report), DV502 not run (no report))" in \
        run.message("DV621")
    assert canary_metric(resources, resources.prefix) == [0.0]


def test_the_seed_incident_replayed_fails_the_canary_on_stuck_work(resources: Resources, tmp_path: Path) -> None:
    """180 documents left in `uploaded` for 45 days while the function reports no error: the smoke checks and the
    metrics are quiet, the canary fails on the first night naming the count and the oldest age."""
    with suite.stack(resources, tmp_path, None, canary={}) as target:  # every threshold at its default (24 h)
        seed.add_rows(resources.database, "uploaded", 180, age_s=45 * 86400)
        seed.lambda_metrics(resources.client("cloudwatch"), resources.function, Invocations=40, Errors=0)
        run = suite.smoke(resources, tmp_path, target, "-k", "DV610 or DV612 or DV614", mode="canary", name="seed")

    assert (run.status("DV610"), run.status("DV614")) == ("pass", "pass")
    assert run.status("DV612") == "fail"
    assert run.code == 1
    assert "180 row(s) of `documents` sit in `uploaded` (180)" in run.message("DV612")
    assert "(oldest 45.0 days" in run.message("DV612")
