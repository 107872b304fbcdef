"""What a stub scan answers: the findings kept, those suppressed (and why), what each handler reached, and notes;
stored as JSON in the scan's content-keyed cache and read back from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployverify.core.results import Finding, Severity
from deployverify.gate.stubscan.findings import ScanFinding


@dataclass
class HandlerSummary:
    handler: str
    resolved: bool
    functions_reached: int


@dataclass
class ScanReport:
    findings: list[ScanFinding]
    suppressed: list[tuple[ScanFinding, str]] = field(default_factory=list)
    handlers: list[HandlerSummary] = field(default_factory=list)
    roots: tuple[Path, ...] = ()
    first_party_files: int = 0
    files_parsed: int = 0
    cached: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    display_paths: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[ScanFinding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    def display(self, finding: ScanFinding) -> str:
        return self.display_paths.get(finding.path, finding.path)

    def results(self, rule: str | None = None) -> list[Finding]:
        """Findings as the report carries them (`results.Finding`), paths mapped back to the source tree."""
        return [f.to_finding(self.display(f)) for f in self.findings if rule is None or f.rule == rule]

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [_finding_json(f) for f in self.findings],
            "suppressed": [{**_finding_json(f), "reason": why} for f, why in self.suppressed],
            "handlers": [vars(h) for h in self.handlers],
            "first_party_files": self.first_party_files, "files_parsed": self.files_parsed, "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], roots: tuple[Path, ...]) -> ScanReport:
        return cls(findings=[_finding_from_json(f) for f in data["findings"]],
                   suppressed=[(_finding_from_json(f), f["reason"]) for f in data["suppressed"]],
                   handlers=[HandlerSummary(**h) for h in data["handlers"]], roots=roots,
                   first_party_files=data["first_party_files"], files_parsed=data["files_parsed"],
                   notes=list(data["notes"]), cached=True)


def _finding_json(f: ScanFinding) -> dict[str, Any]:
    return {"rule": f.rule, "path": f.path, "line": f.line, "message": f.message, "severity": f.severity.value,
            "call_path": list(f.call_path), "subject": f.subject, "file": str(f.file) if f.file else None}


def _finding_from_json(d: dict[str, Any]) -> ScanFinding:
    return ScanFinding(d["rule"], d["path"], int(d["line"]), d["message"], Severity(d["severity"]),
                       tuple(d["call_path"]), d["subject"], Path(d["file"]) if d.get("file") else None)

