"""The run-history trend as an inline SVG the report draws itself (no script, no chart library, no CDN).

One column per run, oldest on the left: the bar's height is the run's duration, its colour the run's status. Each
bar carries a <title> (run id, status, duration, start) that a browser shows on hover.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#8250df", "skip": "#6e7781"}
BAR_W, GAP, PLOT_H, STRIP_H, LEFT = 14, 4, 90, 10, 44


def trend_svg(history: list[dict[str, Any]]) -> Markup:
    if not history:
        return Markup("")
    longest = max((float(run.get("duration_s") or 0) for run in history), default=0.0) or 1.0
    width = max(LEFT + len(history) * (BAR_W + GAP), 320)  # room for the caption under a short history
    height = PLOT_H + STRIP_H + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="last {len(history)} runs: status and duration">',
             f'<text x="0" y="10" font-size="10">{longest:.0f}s</text>',
             f'<text x="0" y="{PLOT_H}" font-size="10">0s</text>',
             f'<line x1="{LEFT - 4}" y1="{PLOT_H}" x2="{width}" y2="{PLOT_H}" stroke="#d1d9e0"/>']
    for n, run in enumerate(history):
        status = str(run.get("status", "error"))
        duration = float(run.get("duration_s") or 0)
        bar_h = max(2.0, duration / longest * (PLOT_H - 6))
        x = LEFT + n * (BAR_W + GAP)
        colour = COLOURS.get(status, COLOURS["error"])
        tip = escape(f"{run.get('run_id')} · {run.get('mode', '')} · {status} · {duration:.1f}s · "
                     f"{run.get('started_at', '')}")
        parts.append(f'<g class="run {escape(status)}" data-run-id="{escape(str(run.get("run_id")))}">'
                     f'<title>{tip}</title>'
                     f'<rect x="{x}" y="{PLOT_H - bar_h:.1f}" width="{BAR_W}" height="{bar_h:.1f}" fill="{colour}"/>'
                     f'<rect x="{x}" y="{PLOT_H + 4}" width="{BAR_W}" height="{STRIP_H}" fill="{colour}"/></g>')
    failed = sum(1 for run in history if run.get("status") != "pass")
    parts.append(f'<text x="{LEFT}" y="{height - 2}" font-size="10">{len(history)} runs, {failed} not passing; '
                 'bar height = duration</text></svg>')
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or passed through escape()
