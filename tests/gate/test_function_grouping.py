"""Results of an application name the function they are about; report.json carries it, the terminal summary and the
HTML report group by it, and merging keeps one result per check and function."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from deployverify.reports.html import render_html
from deployverify.reports.junit import render_junit
from deployverify.reports.markdown import render_markdown
from deployverify.reports.terminal import summary_lines

from deployverify.core.report_merge import merge_runs
from deployverify.core.results import Result, RunReport, Status

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "deployverify" / "schemas" / "report.schema.json")
                    .read_text(encoding="utf-8"))


def result(check_id: str, status: Status, function: str | None, message: str = "") -> Result:
    return Result(check_id, f"title of {check_id}", status, 0.1, message, [f"evidence for {function}"], [], function)


def application_run() -> RunReport:
    checks = [result(check_id, Status.PASS, name) for name in ("Orders", "Payments") for check_id in ("DV101", "DV222")]
    checks += [result("DV101", Status.PASS, "Shipping"),
               result("DV222", Status.FAIL, "Shipping", "`carrier_sdk` imported at app.py:1 is not in the bundle"),
               result("DV001", Status.PASS, None)]
    return RunReport("dv-app", "shop", "gate", "2026-02-03T04:00:00+00:00", "2026-02-03T04:01:00+00:00", checks)


def test_report_json_names_the_function_and_fits_the_schema() -> None:
    data = json.loads(json.dumps(application_run().to_dict()))
    jsonschema.validate(data, SCHEMA)
    about = [(c["id"], c.get("function"), c["status"]) for c in data["checks"]]
    assert ("DV222", "Shipping", "fail") in about
    assert ("DV222", "Orders", "pass") in about
    assert ("DV001", None, "pass") in about  # a check about the run as a whole names no function
    again = RunReport.from_dict(data)
    assert [(r.id, r.function) for r in again.checks] == [(c[0], c[1]) for c in about]


def test_terminal_summary_groups_by_function_failing_first() -> None:
    lines = summary_lines(application_run())
    assert lines[0] == "function Shipping: FAIL"
    assert lines[1].startswith("  DV222 FAIL  title of DV222: `carrier_sdk` imported at app.py:1")
    headers = [line for line in lines if line.startswith("function ")]
    assert headers == ["function Shipping: FAIL", "function Orders: PASS", "function Payments: PASS"]
    assert "DV001 PASS  title of DV001" in lines  # the run-wide check, after the functions, not indented
    assert lines[-1].startswith("FAIL: 6 pass, 1 fail")


def test_one_function_keeps_the_flat_summary() -> None:
    run = RunReport("dv-one", "worker", "gate", "2026-02-03T04:00:00+00:00",
                    checks=[result("DV101", Status.PASS, "Worker")])
    assert summary_lines(run)[0] == "DV101 PASS  title of DV101"


def test_html_has_one_band_per_function_and_check_ids_stay_unique() -> None:
    page = render_html(application_run())
    assert page.index('id="band-Shipping-2"') < page.index('id="band-Orders-1"')  # the failing function first
    for anchor in ('id="Orders-DV222"', 'id="Payments-DV222"', 'id="Shipping-DV222"', 'id="DV001"'):
        assert page.count(anchor) == 1


def test_junit_has_one_case_per_check_and_function() -> None:
    xml = render_junit(application_run())
    assert xml.count('name="DV222 title of DV222 [Shipping]"') == 1
    assert xml.count("<testcase") == 7


def test_merge_keeps_one_result_per_check_and_function() -> None:
    run = application_run()
    shard_a = RunReport("dv-app", "shop", "gate", run.started_at, run.finished_at, run.checks[:3])
    shard_b = RunReport("dv-app", "shop", "gate", run.started_at, run.finished_at, run.checks[3:])
    merged = merge_runs([("a", shard_a), ("b", shard_b)])
    assert sorted((r.id, r.function or "", r.status.value) for r in merged.checks) == sorted(
        (r.id, r.function or "", r.status.value) for r in run.checks)


def test_markdown_rows_name_the_function() -> None:
    table = render_markdown(application_run())
    assert "| `DV222` `Shipping` | ❌ fail |" in table
    assert "| `DV001` | ✅ pass |" in table
