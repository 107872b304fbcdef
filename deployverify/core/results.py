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
        )


@dataclass
class RunReport:
    run_id: str
    target: str
    mode: str
    started_at: str
    finished_at: str = ""
    checks: list[Result] = field(default_factory=list)

    @property
    def status(self) -> Status:
        statuses = {r.status for r in self.checks}
        if Status.ERROR in statuses:
            return Status.ERROR
        if Status.FAIL in statuses:
            return Status.FAIL
        return Status.PASS

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for r in self.checks if r.status is s) for s in Status}

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "target": self.target,
            "mode": self.mode,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status.value,
            "checks": [r.to_dict() for r in sorted(self.checks, key=lambda r: r.id)],
        }
