"""`deployverify report merge OUT DIR...`: three shards of a run merge into the report of the run done in one go."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from deployverify.reports.render import CONDITIONAL_RENDERERS, RENDERERS, write_reports

from deployverify.cli import main
from deployverify.core.results import Finding, Result, RunReport, Status, merge_result

FUNCTIONS = ("ingest", "classify", "notify")


def item(check_id: str, function: str, status: Status, message: str = "") -> Result:
    """One parametrised item of a check, as a worker process reports it."""
    findings = [Finding(check_id, f"{function}/handler.py", 3, f"{function}: {message}")] if message else []
    return Result(check_id, f"title of {check_id}", status, 0.5, message, [f"{function}: evidence"], findings)


def items_of(function: str) -> list[Result]:
    broken = function == "classify"
    return [item("DV101", function, Status.PASS),
            item("DV220", function, Status.FAIL if broken else Status.PASS, "no module 'tasks'" if broken else ""),
            item("DV301", function, Status.FAIL if function != "ingest" else Status.PASS,
                 f"{function} reaches a mock" if function != "ingest" else ""),
            item("DV104", function, Status.SKIP, "not applicable: nothing deployed"),
            item(f"DV50{FUNCTIONS.index(function)}", function, Status.PASS)]  # checks only one shard ran


def combined_run() -> RunReport:
    """The run that did every function in one process: the plugin folds items as they arrive."""
    folded: dict[str, Result] = {}
    for function in FUNCTIONS:
        for result in items_of(function):
            if result.id in folded:
                merge_result(folded[result.id], result)
            else:
                folded[result.id] = result
    return RunReport("dv-combined", "docworker", "gate", "2026-02-03T04:00:00+00:00", "2026-02-03T04:03:00+00:00",
                     list(folded.values()))


def write_shards(root: Path) -> list[Path]:
    folders = []
    for n, function in enumerate(FUNCTIONS):
        run = RunReport(f"dv-shard-{function}", "docworker", "gate", f"2026-02-03T04:0{n}:00+00:00",
                        f"2026-02-03T04:0{n + 1}:00+00:00", items_of(function))
        folders.append(root / function)
        write_reports(run, folders[-1])
    return folders


def comparable(check: dict[str, object]) -> dict[str, object]:
    """A check with its lists as sets: shards fold in a fixed order, the one-process run in arrival order."""
    message = str(check["message"])
    return {**check, "message": sorted(message.split("; ")), "evidence": sorted(check["evidence"]),  # type: ignore
            "findings": sorted(json.dumps(f, sort_keys=True) for f in check["findings"])}  # type: ignore


def test_three_shards_merge_into_the_combined_runs_report_check_for_check(tmp_path: Path) -> None:
    folders = write_shards(tmp_path / "shards")
    assert main(["report", "merge", str(tmp_path / "merged"), *map(str, folders)]) == 1  # failures inside: exit 1
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())
    combined = combined_run().to_dict()
    assert [c["id"] for c in merged["checks"]] == [c["id"] for c in combined["checks"]]
    for ours, theirs in zip(merged["checks"], combined["checks"], strict=True):
        assert comparable(ours) == comparable(theirs)
    assert merged["status"] == combined["status"] == "fail"
    assert merged["started_at"] == "2026-02-03T04:00:00+00:00"
    assert merged["finished_at"] == "2026-02-03T04:03:00+00:00"


def test_every_renderer_writes_the_merged_report(tmp_path: Path) -> None:
    folders = write_shards(tmp_path / "shards")
    main(["report", "merge", str(tmp_path / "merged"), *map(str, folders)])
    for name, *_ in [*RENDERERS.values(), *CONDITIONAL_RENDERERS.values()]:
        assert (tmp_path / "merged" / name).read_text(), name
    assert "classify reaches a mock" in (tmp_path / "merged" / "report.html").read_text()


def test_the_merge_does_not_depend_on_the_order_of_the_folders(tmp_path: Path) -> None:
    folders = write_shards(tmp_path / "shards")
    outputs = set()
    for n, order in enumerate(itertools.permutations(folders)):
        main(["report", "merge", str(tmp_path / f"out{n}"), *map(str, order)])
        outputs.add((tmp_path / f"out{n}" / "report.json").read_text())
    assert len(outputs) == 1


@pytest.mark.parametrize("copy_as", ["the same folder twice", "a copy of a folder"])
def test_a_duplicate_shard_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             copy_as: str) -> None:
    folders = write_shards(tmp_path / "shards")
    duplicate = folders[1]
    if copy_as == "a copy of a folder":
        duplicate = tmp_path / "copy"
        duplicate.mkdir()
        (duplicate / "report.json").write_text((folders[1] / "report.json").read_text())
    assert main(["report", "merge", str(tmp_path / "merged"), *map(str, folders), str(duplicate)]) == 2
    error = capsys.readouterr().err
    assert "duplicate shard: run dv-shard-classify" in error
    assert not (tmp_path / "merged").exists()


def test_a_folder_without_a_report_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "merge", str(tmp_path / "merged"), str(tmp_path)]) == 2
    assert "no report.json" in capsys.readouterr().err
