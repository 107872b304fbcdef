"""Reading one check out of a run's report.json, shared by the tests that run the real CLI."""

from __future__ import annotations

from typing import Any


class ReportChecks:
    """Mixin for a test's view of a finished run; the class provides `report` (the parsed report.json)."""

    report: dict[str, Any]

    def check(self, check_id: str) -> dict[str, Any]:
        return next(c for c in self.report["checks"] if c["id"] == check_id)

    def status(self, check_id: str) -> str:
        return str(self.check(check_id)["status"])

    def message(self, check_id: str) -> str:
        return str(self.check(check_id)["message"])
