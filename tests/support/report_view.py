"""Reading one check out of a run's report.json, shared by the tests that run the real CLI."""

from __future__ import annotations

from typing import Any

from tests.support.outcomes import observe


class ReportChecks:
    """Mixin for a test's view of a finished run; the class provides `report` (the parsed report.json)."""

    report: dict[str, Any]

    def check(self, check_id: str) -> dict[str, Any]:
        return next(c for c in self.report["checks"] if c["id"] == check_id)

    def status(self, check_id: str) -> str:
        status = str(self.check(check_id)["status"])
        observe(check_id, status)
        return status

    def message(self, check_id: str) -> str:
        return str(self.check(check_id)["message"])
