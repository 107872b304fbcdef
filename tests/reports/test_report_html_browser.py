"""The HTML report as a person sees it: opened in headless Chromium, failures first, the trend drawn from history."""

from __future__ import annotations

from pathlib import Path

from deployverify.reports.render import write_reports

from deployverify.canary import history
from deployverify.core.results import Result, RunReport, Status
from tests.reports.test_renderers_golden import fixed_run
from tests.support.chromium import Elements, dump_dom, screenshot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_failing_check_is_the_first_thing_on_the_page_with_its_message(tmp_path: Path) -> None:
    page = write_reports(fixed_run(), tmp_path / "report")["html"]
    png = screenshot(page, tmp_path / "report.png")
    assert png.read_bytes().startswith(PNG_MAGIC)
    rows = Elements(dump_dom(page)).select("tr", "check")
    assert [r.attrs["id"] for r in rows][:3] == ["DV211", "DV220", "DV301"]  # error and fails ahead of the rest
    first = rows[0]
    assert first.classes & {"fail", "error"}
    assert "check crashed in call: RuntimeError: boom" in first.text
    assert "No module named 'worker_tasks'" in rows[1].text
    assert {r.attrs["id"] for r in rows if r.classes & {"pass", "skip"}} == {"DV101", "DV306", "DV104", "DV501"}


def test_a_documents_trip_is_drawn_as_a_timeline(tmp_path: Path) -> None:
    page = write_reports(fixed_run(), tmp_path)["html"]
    elements = Elements(dump_dom(page))
    steps = [e.text for e in elements.all if e.tag == "li" and e.text.startswith("2026-02-03T04:00")]
    assert len(steps) == 5
    assert "+0.25s" in steps[1]
    assert "message sent" in steps[1]
    assert "+6.5s" in steps[-1]
    assert "invocation end" in steps[-1]


def thirty_runs(location: str) -> RunReport:
    """30 canary runs appended to a history file the way the plugin does; every 7th fails, durations grow."""
    run = None
    for n in range(30):
        failing = n % 7 == 3
        run = RunReport(f"dv-run-{n:02d}", "docworker", "canary", f"2026-03-01T{n // 60:02d}:{n % 60:02d}:00+00:00",
                        f"2026-03-01T{n // 60:02d}:{n % 60:02d}:{10 + n:02d}+00:00",
                        [Result("DV501", "a document", Status.PASS),
                         Result("DV610", "errors", Status.FAIL if failing else Status.PASS, 0.1,
                                "3 errors in 24 h" if failing else "")])
        run.history = history.record(run, location)
    assert run is not None
    return run


def test_the_trend_of_a_30_run_history_renders_in_the_browser(tmp_path: Path) -> None:
    run = thirty_runs(str(tmp_path / "history.jsonl"))
    assert len(run.history) == history.TREND_RUNS == 30
    page = write_reports(run, tmp_path / "report")["html"]
    screenshot(page, tmp_path / "trend.png")
    elements = Elements(dump_dom(page))
    bars = [e for e in elements.all if e.tag == "g" and "run" in e.classes]
    assert [b.attrs["data-run-id"] for b in bars] == [f"dv-run-{n:02d}" for n in range(30)]
    failing = [b.attrs["data-run-id"] for b in bars if "fail" in b.classes]
    assert failing == ["dv-run-03", "dv-run-10", "dv-run-17", "dv-run-24"]
    assert "30 runs, 4 not passing" in page.read_text()
    assert "src=\"http" not in page.read_text()
    assert "<script" not in page.read_text()


def test_the_report_names_the_checks_that_flipped_since_the_previous_run(tmp_path: Path) -> None:
    run = thirty_runs(str(tmp_path / "history.jsonl"))  # run 28 passed, run 29 passed: nothing flipped
    assert history.flips(run.history) == []
    run.checks[1].status = Status.FAIL
    run.history[-1] = history.entry(run)
    page = write_reports(run, tmp_path / "report")["html"]
    flips = Elements(dump_dom(page)).select("ul", "flips")
    assert "DV610 pass → fail" in " ".join(flips[0].text.split())
