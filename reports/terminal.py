"""The lines printed at the end of a run: one per check, failures first."""

from __future__ import annotations

from deployverify.core.inert import inert
from deployverify.core.results import RunReport, Status

_ORDER = {Status.ERROR: 0, Status.FAIL: 1, Status.SKIP: 2, Status.PASS: 3}


def summary_lines(run: RunReport) -> list[str]:
    lines = []
    for result in sorted(run.checks, key=lambda r: (_ORDER[r.status], r.id)):
        text = f"{result.id} {result.status.value.upper():5} {result.title}"
        if result.message:
            text += f": {result.message}"
        lines.append(inert(text))  # messages quote log lines and file contents: no escape sequence reaches the tty
    counts = run.counts()
    lines.append(f"{run.status.value.upper()}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                 + f" (run {inert(run.run_id)})")
    return lines
