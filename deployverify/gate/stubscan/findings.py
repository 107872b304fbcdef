"""A stub-scan finding: rule id, file (relative to the scanned root), line, the registry's message, the call path
from the handler, and the subject (the function, class, module or flag it is about) that allowlists and baselines
match on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deployverify.core import registry
from deployverify.core.results import Finding, Severity
from deployverify.gate.stubscan.graph import name_of
from deployverify.gate.stubscan.suppress import normalise_message
from deployverify.gate.stubscan.symbols import ModuleSymbols, Node


@dataclass(frozen=True)
class ScanFinding:
    rule: str
    path: str  # relative to the scanned root, forward slashes
    line: int
    message: str
    severity: Severity = Severity.ERROR
    call_path: tuple[str, ...] = ()
    subject: str = ""
    file: Path | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, int, str]:
        return self.rule, self.path, self.line, self.subject

    @property
    def fingerprint(self) -> str:
        text = "|".join((self.rule, self.path, self.subject, normalise_message(self.message)))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_finding(self, display_path: str | None = None) -> Finding:
        return Finding(rule=self.rule, path=display_path or self.path, line=self.line, message=self.message,
                       severity=self.severity, call_path=self.call_path)


def make_finding(rule_id: str, node: Node, *, severity: Severity = Severity.ERROR, trail: tuple[str, ...] = (),
             subject: str | None = None, line: int | None = None, in_module: ModuleSymbols | None = None,
             **values: object) -> ScanFinding:
    module = in_module or (node if isinstance(node, ModuleSymbols) else node.module)
    at = line or node.line
    fields: dict[str, object] = {"path": module.relative, "line": at, "call_path": arrow(trail), **values}
    message = registry.message(rule_id, **fields)
    return ScanFinding(rule_id, module.relative, at, message, severity, trail,
                       subject if subject is not None else name_of(node), module.path)


def arrow(call_path: Iterable[str]) -> str:
    return " → ".join(call_path)

