"""junit.xml: one testcase per check, so any CI's test view shows the gate's checklist."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from deployverify.core.inert import inert
from deployverify.core.results import RunReport, Status


def render_junit(run: RunReport) -> str:
    counts = run.counts()
    suite = ET.Element("testsuite", {
        "name": f"deployverify.{run.mode}", "tests": str(len(run.checks)), "failures": str(counts["fail"]),
        "errors": str(counts["error"]), "skipped": str(counts["skip"]),
        "time": f"{sum(r.duration_s for r in run.checks):.3f}", "timestamp": run.started_at,
    })
    properties = ET.SubElement(suite, "properties")
    for name in ("run_id", "target", "mode"):
        ET.SubElement(properties, "property", {"name": name, "value": inert(getattr(run, name))})
    for result in sorted(run.checks, key=lambda r: (r.id, r.function or "")):
        about = f" [{result.function}]" if result.function else ""  # one case per function of the application
        case = ET.SubElement(suite, "testcase", {
            "classname": f"deployverify.{run.mode}.{result.id}", "name": f"{result.id} {result.title}{about}",
            "time": f"{result.duration_s:.3f}"})
        # XML 1.0 cannot carry most control characters at all: a log line with an escape sequence would make the
        # whole file unparseable for the CI's test view.
        detail = "\n".join(inert(line) for text in [*result.evidence, *(f"{f.path}:{f.line} {f.rule} {f.message}"
                                                                        for f in result.findings)]
                           for line in text.split("\n"))
        if result.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": inert(result.message)}).text = detail
        elif result.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": inert(result.message)}).text = detail
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": inert(result.message)})
        elif detail:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
