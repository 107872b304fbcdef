"""Golden files for every renderer, over a fixed run covering each status, findings with call paths, markup in
values (escaped), and a registered secret (never rendered).

Regenerate with UPDATE_GOLDEN=1 after a deliberate change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from deployverify.reports.render import RENDERERS, write_reports

from deployverify.core import redact
from deployverify.core.results import Finding, Result, RunReport, Severity, Status

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SECRET = "s3cr3t-Pa55word"


def fixed_run() -> RunReport:
    return RunReport(
        run_id="dv-20260203040000-abc123", target="docworker", mode="gate",
        started_at="2026-02-03T04:00:00+00:00", finished_at="2026-02-03T04:01:30+00:00",
        checks=[
            Result("DV101", "The bundle builds", Status.PASS, 12.5, "", ["bundle: build/bundle (cached, 0.1s)"]),
            Result("DV220", "Every first-party module imports in the Lambda image", Status.FAIL, 3.25,
                   "`worker_tasks` fails to import: No module named 'worker_tasks'; the import should be "
                   "`models.worker_document`",
                   [f"probe ran in docker; DSN postgresql://worker:{SECRET}@db:5432/app"],
                   [Finding("DV220", "process_document_lambda.py", 7, "No module named 'worker_tasks'")]),
            Result("DV301", "No mock-named code is reachable from the handler", Status.FAIL, 0.4,
                   "handler reaches `process_document_mock` (tasks/mock.py:3)", [],
                   [Finding("DV301", "tasks/mock.py", 3, "mock <b>reached</b> | piped",
                            call_path=("handler", "process_document_mock"))]),
            Result("DV306", "No TODO/FIXME markers in reachable code", Status.PASS, 0.1, "1 warning(s): TODO",
                   [], [Finding("DV306", "db.py", 40, "TODO: pool connections", Severity.WARNING)]),
            Result("DV104", "The deployed code is the code that was built", Status.SKIP, 0.0,
                   "not applicable: no deployed function"),
            Result("DV211", "The handler imports and resolves in the Lambda image", Status.ERROR, 1.0,
                   "check crashed in call: RuntimeError: boom", ["Traceback (most recent call last):\n  ..."]),
            Result("DV501", "A real document goes through the pipeline", Status.PASS, 8.0, "", [
                "document 42 (invoice.pdf): status `processed` after 6.5s\n"
                "2026-02-03T04:00:01.000+00:00 uploaded s3://docs/deployverify/run/invoice.pdf\n"
                "2026-02-03T04:00:01.250+00:00 message sent: 5e1f\n"
                "2026-02-03T04:00:02.000+00:00 invocation start\n"
                "2026-02-03T04:00:07.000+00:00 row status processing -> processed\n"
                "2026-02-03T04:00:07.500+00:00 invocation end"]),
        ],
        history=[
            {"run_id": f"dv-2026020{n}040000-aaaaaa", "mode": "smoke", "status": status, "duration_s": duration,
             "started_at": f"2026-02-0{n}T04:00:00+00:00", "checks": checks}
            for n, status, duration, checks in (
                (1, "pass", 60.0, {"DV101": "pass", "DV220": "pass", "DV501": "pass"}),
                (2, "fail", 90.5, {"DV101": "pass", "DV220": "fail", "DV501": "pass", "DV104": "skip"}))])


@pytest.mark.parametrize("kind", sorted(RENDERERS))
def test_renderer_matches_golden_file(tmp_path: Path, kind: str) -> None:
    redact.register(SECRET)
    written = write_reports(fixed_run(), tmp_path)
    actual = written[kind].read_text(encoding="utf-8")
    golden = GOLDEN / RENDERERS[kind][0]
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(actual, encoding="utf-8")
    assert SECRET not in actual
    assert actual == golden.read_text(encoding="utf-8"), f"{kind} differs from {golden}; UPDATE_GOLDEN=1 to accept"


def test_html_escapes_values(tmp_path: Path) -> None:
    html = write_reports(fixed_run(), tmp_path)["html"].read_text()
    assert "mock &lt;b&gt;reached&lt;/b&gt;" in html
    assert "<b>reached</b>" not in html


def test_step_summary_is_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_reports(fixed_run(), tmp_path / "out")
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "deployverify gate: docworker" in text
    assert "`DV220`" in text
