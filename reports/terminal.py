"""The lines printed at the end of a run: one per check, failures first."""

from __future__ import annotations

from deployverify.core.inert import inert
from deployverify.core.results import Result, RunReport, Status

_ORDER = {Status.ERROR: 0, Status.FAIL: 1, Status.SKIP: 2, Status.PASS: 3}


def _check_line(result: Result, indent: str = "") -> str:
    text = f"{indent}{result.id} {result.status.value.upper():5} {result.title}"
    # messages quote log lines and file contents: no escape sequence reaches the terminal
    return inert(text + (f": {result.message}" if result.message else ""))


def _worst_first(results: list[Result]) -> list[Result]:
    return sorted(results, key=lambda r: (_ORDER[r.status], r.id))


def summary_lines(run: RunReport) -> list[str]:
    """One line per check; for an application of several functions, one group per function (worst first), each
    headed by the function's verdict, then the checks about the run as a whole."""
    functions = run.functions()
    lines = []
    if len(functions) > 1:
        groups = [(name, [r for r in run.checks if r.function == name]) for name in functions]
        groups.sort(key=lambda g: min(_ORDER[r.status] for r in g[1]))
        for name, results in groups:
            worst = _worst_first(results)[0].status
            verdict = "FAIL" if worst in (Status.FAIL, Status.ERROR) else "PASS"
            lines.append(inert(f"function {name}: {verdict}"))
            lines += [_check_line(r, "  ") for r in _worst_first(results)]
        lines += [_check_line(r) for r in _worst_first([r for r in run.checks if r.function is None])]
    else:
        lines += [_check_line(r) for r in _worst_first(run.checks)]
    counts = run.counts()
    lines.append(f"{run.status.value.upper()}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                 + f" (run {inert(run.run_id)})")
    return lines
