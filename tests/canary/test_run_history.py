"""Run history: one line per smoke or canary run, in a JSON-lines file or under an S3 prefix (a real moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployverify.canary import history
from deployverify.core.results import Result, RunReport, Status
from tests.support.moto import moto_server
from tests.support.smoke_env import aws_client


def run(n: int, mode: str = "canary", dv610: Status = Status.PASS) -> RunReport:
    return RunReport(f"dv-run-{n:02d}", "docworker", mode, f"2026-03-01T04:{n:02d}:00+00:00",
                     f"2026-03-01T04:{n:02d}:42+00:00", [Result("DV501", "a document", Status.PASS),
                                                          Result("DV610", "errors", dv610)])


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with moto_server() as url:
        client = aws_client("s3", url)
        client.create_bucket(Bucket="dv-history")
        yield client


@pytest.fixture(params=["jsonl", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path, s3: Any) -> tuple[str, Any]:
    if request.param == "jsonl":
        return str(tmp_path / "history" / "runs.jsonl"), None
    return f"s3://dv-history/{tmp_path.name}/runs/", lambda: s3


def test_each_run_appends_one_line_and_the_report_gets_the_last_thirty(location: tuple[str, Any]) -> None:
    where, s3 = location
    for n in range(33):
        line = history.entry(run(n))
        history.append(where, line, s3)
    lines = history.read(where, s3=s3)
    assert [line["run_id"] for line in lines] == [f"dv-run-{n:02d}" for n in range(3, 33)]
    assert lines[-1] == {"run_id": "dv-run-32", "mode": "canary", "target": "docworker",
                         "started_at": "2026-03-01T04:32:00+00:00", "finished_at": "2026-03-01T04:32:42+00:00",
                         "duration_s": 42.0, "status": "pass", "checks": {"DV501": "pass", "DV610": "pass"}}


def test_record_keeps_smoke_and_canary_runs_only(tmp_path: Path) -> None:
    where = str(tmp_path / "runs.jsonl")
    assert history.record(run(1, mode="gate"), where) == []
    assert not Path(where).exists()
    assert history.record(run(1), None) == []
    shown = history.record(run(2, mode="smoke"), where)
    assert [line["run_id"] for line in shown] == ["dv-run-02"]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    where = tmp_path / "runs.jsonl"
    history.record(run(1), str(where))
    with open(where, "a", encoding="utf-8") as handle:
        handle.write('{"run_id": "dv-run-02", "mo')  # a run killed while it wrote its line
    shown = history.record(run(3, dv610=Status.FAIL), str(where))
    assert [line["run_id"] for line in shown] == ["dv-run-01", "dv-run-03"]
    assert [line["run_id"] for line in history.read(str(where))] == ["dv-run-01", "dv-run-03"]
    assert history.flips(shown) == [{"id": "DV610", "before": "pass", "after": "fail"}]
