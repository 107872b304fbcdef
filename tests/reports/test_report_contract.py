"""report.json is a fixed contract: it validates against its schema, serially and under pytest-xdist, and a check that
crashes becomes an error result with its traceback while the run goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SUITE = '''
import pytest
from deployverify.core import check as dv
from deployverify.core.check import check


@check("DV001")
def test_crashes():
    raise RuntimeError("boom in the check")


@check("DV101")
def test_passes(built_bundle):
    dv.evidence(f"bundle at {built_bundle.path.name}")


@check("DV102")
def test_fails():
    dv.fail("handler `app.nope` is missing; fix it")


@check("DV103")
def test_not_applicable():
    dv.not_applicable("no size limit for this target")


@check("DV501")
@pytest.mark.parametrize("document", ["a.pdf", "b.pdf", "c.pdf"])
def test_per_document(document):
    if document == "b.pdf":
        dv.fail(f"`{document}` is `uploaded`")


@check("DV210")
def test_plain_assert():
    value = 3
    assert value == 4, "value should be 4"
'''


@cache
def report_schema() -> dict[str, Any]:
    return json.loads(resources.files("deployverify").joinpath("schemas/report.schema.json").read_text())


def run_suite(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "test_synthetic.py").write_text(textwrap.dedent(SUITE))
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "app.py").write_text("def handler(event, context):\n    return event\n")
    report_dir = tmp_path / f"report{len(extra)}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "--dv-bundle", str(bundle), "--dv-handler", "app.handler",
         "--dv-report-dir", str(report_dir), "-p", "no:cacheprovider", "-q", *extra],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env={**os.environ, "CI": ""})
    return done, json.loads((report_dir / "report.json").read_text())


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist-2"])
def test_report_validates_and_records_every_outcome(tmp_path: Path, workers: list[str]) -> None:
    done, report = run_suite(tmp_path, *workers)
    assert done.returncode == 1, done.stdout + done.stderr
    jsonschema.validate(report, report_schema())
    checks = by_id(report)
    assert report["status"] == "error"
    assert set(checks) == {"DV001", "DV101", "DV102", "DV103", "DV501", "DV210"}
    assert checks["DV101"]["status"] == "pass"
    assert checks["DV101"]["evidence"] == ["bundle at bundle"]
    assert checks["DV102"] == {**checks["DV102"], "status": "fail", "message": "handler `app.nope` is missing; fix it"}
    assert checks["DV103"]["status"] == "skip"
    assert "no size limit" in checks["DV103"]["message"]
    assert checks["DV210"]["status"] == "fail"
    assert "value should be 4" in checks["DV210"]["message"]
    crashed = checks["DV001"]
    assert crashed["status"] == "error"
    assert crashed["message"] == "check crashed in call: RuntimeError: boom in the check"
    assert any("Traceback" in e and "test_crashes" in e for e in crashed["evidence"])
    # three parametrised items merge into one result; the worst status and its message win
    assert checks["DV501"]["status"] == "fail"
    assert checks["DV501"]["message"] == "`b.pdf` is `uploaded`"


def test_serial_and_parallel_reports_agree(tmp_path: Path) -> None:
    def comparable(report: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted((c["id"], c["status"], c["message"]) for c in report["checks"])

    (tmp_path / "serial").mkdir()
    (tmp_path / "parallel").mkdir()
    _, serial = run_suite(tmp_path / "serial")
    _, parallel = run_suite(tmp_path / "parallel", "-n", "2")
    assert comparable(serial) == comparable(parallel)
    assert serial["run_id"] != parallel["run_id"]


def test_all_report_files_are_written(tmp_path: Path) -> None:
    run_suite(tmp_path)
    folder = tmp_path / "report0"
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]
    html = (folder / "report.html").read_text()
    assert "<script" not in html
    assert "<link" not in html
    assert "src=" not in html
    assert "boom in the check" in html
