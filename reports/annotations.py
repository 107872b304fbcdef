"""GitHub Actions workflow commands (`::error file=…,line=…::message`) for findings, printed when GITHUB_ACTIONS=true.

GitHub shows them on the pull request's diff. Values are escaped the way the Actions toolkit escapes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from deployverify.core.inert import inert
from deployverify.core.results import Finding, RunReport, Severity

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def enabled() -> bool:
    return os.environ.get("GITHUB_ACTIONS", "").lower() == "true"


def _data(text: str) -> str:
    # \r and \n stay (escaped as the toolkit does); other control characters would reach the job log raw.
    text = "\n".join(inert(line) for line in text.replace("\r\n", "\n").split("\n"))
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    message = finding.message
    if finding.call_path and " → ".join(finding.call_path) not in message:
        message += f" (call path: {' → '.join(finding.call_path)})"
    return (f"::{_COMMANDS[finding.severity]} file={_property(finding.path)},line={max(1, finding.line)},"
            f"title={_property(finding.rule)}::{_data(message)}")


def annotation_lines(findings: Iterable[Finding]) -> list[str]:
    return [annotation(f) for f in findings]


def run_annotations(run: RunReport) -> list[str]:
    return annotation_lines(f for result in sorted(run.checks, key=lambda r: r.id) for f in result.findings)
