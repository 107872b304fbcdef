"""Run history through the real CLI: each smoke run appends its line to the target's `history:` file and its
report.html draws the trend from it. One cheap check (-k DV401) keeps each run short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.suites.test_smoke_suite import smoke, stack
from tests.support.smoke_env import Resources

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_each_smoke_run_appends_to_the_history_and_the_report_draws_it(resources: Resources, tmp_path: Path) -> None:
    history_file = tmp_path / "history" / "runs.jsonl"
    with stack(resources, tmp_path, None, history=str(history_file)) as target:
        first = smoke(resources, tmp_path, target, "-k", "DV401", name="first")
        second = smoke(resources, tmp_path, target, "-k", "DV401", name="second")
    assert (first.code, second.code) == (0, 0), second.stdout + second.stderr
    lines = [json.loads(line) for line in history_file.read_text().splitlines()]
    assert [line["run_id"] for line in lines] == [first.run_id, second.run_id]
    assert lines[-1]["checks"] == {"DV401": "pass"}
    assert lines[-1]["mode"] == "smoke"
    html = (second.folder / "report.html").read_text()
    assert html.count('<g class="run pass"') == 2
    assert "No check changed status since the previous run." in html
