"""The data a run produces: findings, one result per check, and the run that holds them.

These are plain data so they cross process boundaries (pytest-xdist workers) as dicts and render without logic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int
    message: str
    severity: Severity = Severity.ERROR
    call_path: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "severity": self.severity.value,
        }
        if self.call_path:
            data["call_path"] = list(self.call_path)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=data["rule"],
            path=data["path"],
            line=int(data["line"]),
            message=data["message"],
            severity=Severity(data["severity"]),
            call_path=tuple(data.get("call_path", ())),
        )


@dataclass
class Result:
    id: str
    title: str
    status: Status
    duration_s: float = 0.0
    message: str = ""
    evidence: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    function: str | None = None  # the function of the application the result is about; None: the whole run

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "evidence": list(self.evidence),
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.function is not None:
            data["function"] = self.function
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(
            id=data["id"],
            title=data["title"],
            status=Status(data["status"]),
            duration_s=float(data["duration_s"]),
            message=data["message"],
            evidence=list(data["evidence"]),
            findings=[Finding.from_dict(f) for f in data["findings"]],
            function=data.get("function"),
        )


@dataclass
class RunReport:
    run_id: str
    target: str
    mode: str
    started_at: str
    finished_at: str = ""
    checks: list[Result] = field(default_factory=list)
    # Earlier runs plus this one (canary/history.py), for the HTML trend; not part of report.json's contract.
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> Status:
        statuses = {r.status for r in self.checks}
        if Status.ERROR in statuses:
            return Status.ERROR
        if Status.FAIL in statuses:
            return Status.FAIL
        return Status.PASS

    def functions(self) -> list[str]:
        """The application's functions the results name, in first-seen order."""
        return list(dict.fromkeys(r.function for r in self.checks if r.function is not None))

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for r in self.checks if r.status is s) for s in Status}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        return cls(run_id=data["run_id"], target=data["target"], mode=data["mode"], started_at=data["started_at"],
                   finished_at=data.get("finished_at", ""), checks=[Result.from_dict(c) for c in data["checks"]])

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "mode": self.mode,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status.value,
            "checks": [r.to_dict() for r in sorted(self.checks, key=lambda r: (r.id, r.function or ""))],
        }


_RANK = {Status.ERROR: 3, Status.FAIL: 2, Status.PASS: 1, Status.SKIP: 0}


def merge_result(have: Result, result: Result) -> None:
    """Fold another result of the same check id into `have`: the worst status wins, evidence and findings add up.

    Used for a check's parametrised items (one per function or document) and for the shards of a split run.
    """
    if _RANK[result.status] > _RANK[have.status]:
        have.status, have.message = result.status, result.message
    elif result.message and result.status is have.status and result.status in (Status.FAIL, Status.ERROR) \
            and result.message not in have.message:  # parametrised items often fail alike
        have.message = f"{have.message}; {result.message}"
    have.duration_s += result.duration_s
    have.evidence.extend(result.evidence)
    have.findings.extend(result.findings)
