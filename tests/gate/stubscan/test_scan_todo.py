"""DV306: a TODO on the reached path is a warning by default and an error under the target's scan.fail_on_todo."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.gate.stubscan.scan import ScanSettings
from deployverify.target.loader import load_target
from tests.support.scan_helpers import only, scan_tree

WITH_TODO = {"app.py": """
    import boto3

    def handler(event, context):
        # TODO: retry throttled writes
        return boto3.client("s3").put_object(Bucket="b", Key=event["key"], Body=b"")
    """}


@pytest.mark.parametrize(("fail_on_todo", "severity"), [(False, "warning"), (True, "error")])
def test_todo_severity_follows_the_target_option(tmp_path: Path, fail_on_todo: bool, severity: str) -> None:
    report = scan_tree(tmp_path, WITH_TODO, settings=ScanSettings(fail_on_todo=fail_on_todo))
    [finding] = only(report, "DV306")
    assert finding.severity.value == severity
    assert "`TODO` in `handler`" in finding.message
    assert "retry throttled writes" in finding.message


def test_no_todo_passes_even_when_failing_on_todo(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": "def handler(event, context):\n    return event['n'] + 1\n"},
                       settings=ScanSettings(fail_on_todo=True))
    assert only(report, "DV306") == []


def test_target_file_sets_fail_on_todo(tmp_path: Path) -> None:
    (tmp_path / "deployverify.yaml").write_text(
        "name: t\nruntime: python3.11\nbundle: {output: build}\nfunctions:\n  - {name: f, handler: app.handler}\n"
        "scan:\n  fail_on_todo: true\n")
    target = load_target(tmp_path / "deployverify.yaml")
    assert ScanSettings.from_model(target.scan).fail_on_todo is True
