"""The target's `canary:` section: the defaults are the seed's KPIs, a full section loads typed, bad input is one
error naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.core.errors import TargetError
from deployverify.target import load_target
from deployverify.target.model import MigrationPhase, ScheduledTask
from tests.target.test_target_loader import GOOD, write

SECTION = """\
canary:
  window_min: 1440
  budget_usd_month: 10
  ai_cost_per_document_usd: 0.023
  schedules:
    - {function: Worker, expression: "cron(0 8 * * ? *)"}
    - {function: worker-dev, expression: "cron(0 9  ? * MON *)", rule: weekly, kind: scheduler, group: digests}
  phases:
    - {name: infrastructure, checks: [DV301]}
    - {name: real worker code, checks: [DV307, DV308, DV502]}
  phase_reports: [reports/gate/report.json]
  metric: {namespace: docworker/canary, dimensions: {Stage: prod}}
"""


def test_defaults_are_the_seeds_kpis(tmp_path: Path) -> None:
    canary = load_target(write(tmp_path, GOOD), env={}).canary

    assert (canary.window_min, canary.min_success_percent, canary.max_p95_duration_s, canary.max_error_percent,
            canary.max_dlq_messages, canary.max_timeouts, canary.budget_usd_month) == (1440, 95, 120, 1, 0, 0, 10)
    assert (canary.schedules, canary.phases, canary.metric.namespace) == ((), (), "deployverify/canary")


def test_a_full_section_loads_typed(tmp_path: Path) -> None:
    canary = load_target(write(tmp_path, GOOD + SECTION), env={}).canary

    assert canary.schedules == (
        ScheduledTask(function="Worker", expression="cron(0 8 * * ? *)"),
        ScheduledTask(function="worker-dev", expression="cron(0 9  ? * MON *)", rule="weekly", kind="scheduler",
                      group="digests"))
    assert canary.phases[1] == MigrationPhase("real worker code", ("DV307", "DV308", "DV502"))
    assert canary.phase_reports == ((tmp_path / "reports" / "gate" / "report.json").resolve(),)
    assert (canary.metric.namespace, canary.metric.dimensions) == ("docworker/canary", {"Stage": "prod"})
    assert canary.ai_cost_per_document_usd == 0.023


@pytest.mark.parametrize(("old", "new", "where", "words"), [
    ("function: Worker,", "function: Nobody,", "deployverify.yaml:26 canary.schedules[0].function",
     "'Nobody' is not a function of the target"),
    ('"cron(0 8 * * ? *)"', '"daily at 8"', "deployverify.yaml:26 canary.schedules[0].expression", "not valid here"),
    ("checks: [DV301]", "checks: [301]", "deployverify.yaml:29 canary.phases[0].checks[0]", "expected a string"),
    ("budget_usd_month: 10", "budget_usd: 10", "deployverify.yaml:23 canary.budget_usd", "did you mean"),
])
def test_bad_canary_input_is_one_clear_error(tmp_path: Path, old: str, new: str, where: str, words: str) -> None:
    with pytest.raises(TargetError) as raised:
        load_target(write(tmp_path, GOOD + SECTION.replace(old, new)), env={})

    assert str(raised.value).startswith(str(tmp_path / where)), str(raised.value)
    assert words in str(raised.value)
