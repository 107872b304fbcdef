"""Write every report of a run into one folder and, on GitHub, append the summary to the job's page."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from deployverify.reports.html import render_html
from deployverify.reports.json_report import render_json
from deployverify.reports.junit import render_junit
from deployverify.reports.markdown import render_markdown
from deployverify.reports.sarif import render_sarif

from deployverify.core.redact import redact
from deployverify.core.results import RunReport

RENDERERS: dict[str, tuple[str, Callable[[RunReport], str]]] = {
    "json": ("report.json", render_json),
    "html": ("report.html", render_html),
    "junit": ("junit.xml", render_junit),
    "markdown": ("summary.md", render_markdown),
}
# Written only when the run ran the stub scan (a DV3xx result), findings or not: code scanning closes fixed alerts
# when a later upload no longer has them.
CONDITIONAL_RENDERERS: dict[str, tuple[str, Callable[[RunReport], str], Callable[[RunReport], bool]]] = {
    "sarif": ("scan.sarif", render_sarif, lambda run: any(r.id.startswith("DV3") for r in run.checks)),
}


def write_reports(run: RunReport, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind, (name, render) in RENDERERS.items():
        path = folder / name
        # Redaction is the last step before bytes leave the process, whatever the renderer did.
        path.write_text(redact(render(run)), encoding="utf-8")
        written[kind] = path
    for kind, (name, render, wanted) in CONDITIONAL_RENDERERS.items():
        if wanted(run):
            path = folder / name
            path.write_text(redact(render(run)), encoding="utf-8")
            written[kind] = path
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(written["markdown"].read_text(encoding="utf-8"))
    return written
