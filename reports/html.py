"""report.html: one self-contained page a person reads (inline CSS and SVG, no scripts, nothing fetched).

Failures come first: bands with a failing check before the others, and inside a band failing checks before skipped
and passed ones. Each check's evidence shows fixture documents' trips as timelines (reports/timeline.py); the run
history, when the target keeps one, is drawn as a trend (reports/trend.py) with the checks that flipped since the
previous run.
"""

from __future__ import annotations

from typing import Any

from deployverify.reports.templating import environment
from deployverify.reports.timeline import trips
from deployverify.reports.trend import trend_svg

from deployverify.canary.history import flips
from deployverify.core.registry import BANDS
from deployverify.core.results import RunReport

# Worst first: the order a person triages in.
STATUS_ORDER = {"error": 0, "fail": 1, "skip": 2, "pass": 3}


def _band(check_id: str) -> str:
    return BANDS.get(check_id[2:3], "other")


def band_groups(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks in bands (DV1xx, DV2xx, ...), one set of bands per function of the application: a result about one
    function never hides among another's."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for check in checks:
        about = (check.get("function", ""), check["id"][2:3])
        groups.setdefault(about, []).append({**check, "trips": trips(check["evidence"])})
    ordered = []
    for (function, band), members in groups.items():
        members.sort(key=lambda c: (STATUS_ORDER.get(c["status"], 0), c["id"]))
        ordered.append({"key": band, "function": function, "name": _band(members[0]["id"]), "checks": members,
                        "worst": members[0]["status"],
                        "counts": {s: sum(1 for c in members if c["status"] == s) for s in STATUS_ORDER}})
    ordered.sort(key=lambda g: (STATUS_ORDER.get(g["worst"], 0), g["function"], g["key"]))
    return ordered


def render_html(run: RunReport) -> str:
    data = run.to_dict()
    return environment().get_template("report.html.j2").render(
        run=data, counts=run.counts(), bands=band_groups(data["checks"]), trend=trend_svg(run.history),
        history=run.history, flipped=flips(run.history))
