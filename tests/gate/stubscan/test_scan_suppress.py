"""Suppressions: inline with a reason, inline without one (DV309), the target's allowlist, and the baseline."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from deployverify.cli import main
from deployverify.gate.stubscan.scan import ScanSettings
from deployverify.target.model import Allow
from tests.support.scan_helpers import only, scan_tree, write_tree

MOCK_APP = {
    "app.py": "from tasks import process_mock\n\ndef handler(event, context):\n    return process_mock(event)\n",
    "tasks.py": "def process_mock(event):\n    return len(event)\n",
}


@pytest.mark.parametrize("tasks", [
    'def process_mock(event):  # deployverify: allow DV301 reason="a vendor name clash; it does the work"\n'
    "    return len(event)\n",
    '# deployverify: allow DV301 reason="a vendor name clash; it does the work"\n'
    "def process_mock(event):\n    return len(event)\n",
], ids=["same line", "line above"])
def test_inline_suppression_with_a_reason(tmp_path: Path, tasks: str) -> None:
    report = scan_tree(tmp_path, {**MOCK_APP, "tasks.py": tasks})
    assert report.findings == []
    [(finding, reason)] = report.suppressed
    assert finding.rule == "DV301"
    assert reason == "inline: a vendor name clash; it does the work"


def test_suppression_without_a_reason_suppresses_nothing(tmp_path: Path) -> None:
    tasks = "def process_mock(event):  # deployverify: allow DV301\n    return len(event)\n"
    report = scan_tree(tmp_path, {**MOCK_APP, "tasks.py": tasks})
    assert {f.rule for f in report.findings} == {"DV301", "DV309"}
    [reasonless] = only(report, "DV309")
    assert reasonless.message == ('suppression of DV301 at tasks.py:1 has no reason="..."; say why it is safe')


def test_suppression_of_another_rule_does_not_apply(tmp_path: Path) -> None:
    tasks = 'def process_mock(event):  # deployverify: allow DV302 reason="not this one"\n    return len(event)\n'
    assert only(scan_tree(tmp_path, {**MOCK_APP, "tasks.py": tasks}), "DV301")


@pytest.mark.parametrize("allow", [
    Allow(rule="DV301", reason="kept for the demo", path="tasks.py"),
    Allow(rule="DV301", reason="kept for the demo", name="process_mock"),
    Allow(rule="DV301", reason="kept for the demo", name="tasks.process_*"),
])
def test_allowlist_in_the_target(tmp_path: Path, allow: Allow) -> None:
    report = scan_tree(tmp_path, MOCK_APP, settings=ScanSettings(allow=(allow,)))
    assert report.findings == []
    assert report.suppressed[0][1] == "scan.allow: kept for the demo"


def test_allowlist_for_another_path_does_not_apply(tmp_path: Path) -> None:
    allow = Allow(rule="DV301", reason="x", path="other.py")
    assert only(scan_tree(tmp_path, MOCK_APP, settings=ScanSettings(allow=(allow,))), "DV301")


def _target_file(folder: Path, baseline: str | None) -> Path:
    scan = f"scan:\n  baseline: {baseline}\n" if baseline else ""
    text = textwrap.dedent("""\
        name: suppress-test
        runtime: python3.11
        bundle:
          output: src
        functions:
          - name: worker
            handler: app.handler
        """) + scan
    path = folder / "deployverify.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_baseline_accepts_existing_findings_and_reports_new_ones(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", MOCK_APP)
    assert main(["scan", "-c", str(_target_file(tmp_path, None)), "--no-cache"]) == 1
    target = _target_file(tmp_path, "dv-baseline.json")
    assert main(["baseline", "-c", str(target), "--no-cache"]) == 0
    written = json.loads((tmp_path / "dv-baseline.json").read_text())
    assert [f["rule"] for f in written["findings"]] == ["DV301"]
    assert written["version"] == 1
    assert main(["scan", "-c", str(target), "--no-cache"]) == 0
    # moving code keeps the finding accepted; a new stub is reported
    write_tree(tmp_path / "src", {"tasks.py": "\n\n" + MOCK_APP["tasks.py"] + "\n\ndef fake_more(e):\n    return e\n",
                                  "app.py": MOCK_APP["app.py"].replace("process_mock(event)",
                                                                       "process_mock(event) or fake_more(event)")
                                  .replace("import process_mock", "import fake_more, process_mock")})
    capsys.readouterr()
    assert main(["scan", "-c", str(target), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "fake_more" in out
    assert "`process_mock`" not in out
    assert "1 suppressed" in out


def test_missing_baseline_file_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", MOCK_APP)
    target = _target_file(tmp_path, "nope.json")
    assert main(["scan", "-c", str(target)]) == 2
    assert "baseline file does not exist" in capsys.readouterr().err
