"""report.html: one self-contained page (inline CSS, no scripts from elsewhere), evidence shown per check."""

from __future__ import annotations

from deployverify.reports.templating import environment

from deployverify.core.results import RunReport


def render_html(run: RunReport) -> str:
    return environment().get_template("report.html.j2").render(run=run.to_dict(), counts=run.counts())
