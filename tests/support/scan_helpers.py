"""Shared helpers of the stub-scan tests: write a tiny target tree, scan it, pick findings."""

from __future__ import annotations

import textwrap
from pathlib import Path

from deployverify.gate.stubscan.findings import ScanFinding
from deployverify.gate.stubscan.scan import HandlerSpec, ScanSettings, scan
from deployverify.gate.stubscan.scan_report import ScanReport


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def scan_tree(root: Path, files: dict[str, str] | None = None, handler: str = "app.handler", *,
              environment: dict[str, str] | None = None, must_reach: tuple[str, ...] = (),
              settings: ScanSettings | None = None, use_cache: bool = False) -> ScanReport:
    if files is not None:
        write_tree(root, files)
    spec = HandlerSpec(handler, environment or {}, must_reach)
    return scan(root, [spec], settings or ScanSettings(), use_cache=use_cache)


def only(report: ScanReport, rule: str) -> list[ScanFinding]:
    return [f for f in report.findings if f.rule == rule]
