"""Which check statuses a test has seen, so a `@pytest.mark.dv_outcomes("DV104:fail")` claim stays true.

docs/checks.md lists, per check, the tests marked as showing it fail and pass (deployverify/commands/check_sources.py
reads the markers). Every view of a finished run (GateRun, ReportChecks) reports each status a test reads here, and
tests/conftest.py fails the session when a marked test function passed in full without reading a claimed status.
"""

from __future__ import annotations

import json
from pathlib import Path

OBSERVED: dict[str, set[str]] = {}  # test function (node id without parameters) -> {"DV104:fail", ...}
_current: list[str] = []


def start(function_id: str) -> None:
    _current[:] = [function_id]
    OBSERVED.setdefault(function_id, set())


def observe(check_id: str, status: str) -> None:
    if _current:
        OBSERVED[_current[0]].add(f"{check_id}:{status}")


def observe_reports(folder: Path) -> None:
    for report in folder.rglob("report.json"):
        try:
            checks = json.loads(report.read_text(encoding="utf-8")).get("checks", [])
        except (OSError, ValueError, AttributeError):
            continue  # not a deployverify report: nothing seen
        for check in checks:
            if isinstance(check, dict) and "id" in check and "status" in check:
                observe(str(check["id"]), str(check["status"]))
