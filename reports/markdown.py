"""summary.md: the short table for pull requests and $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from deployverify.reports.templating import environment

from deployverify.core.results import RunReport

ICONS = {"pass": "✅", "fail": "❌", "error": "💥", "skip": "⏭️"}


def render_markdown(run: RunReport) -> str:
    return environment().get_template("summary.md.j2").render(run=run.to_dict(), counts=run.counts(), icons=ICONS)
