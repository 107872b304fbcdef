"""`deployverify baseline`: accept today's stub-scan findings, so later scans report only new ones.

Writes the findings (after inline suppressions and scan.allow) to FILE, by default the target's scan.baseline or
deployverify-baseline.json. Scans read it through `scan.baseline` in the target file. Exit 0, or 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deployverify.commands.scan import configure as configure_inputs
from deployverify.commands.scan import local_jobs, run_job
from deployverify.gate.stubscan.suppress import BaselineEntry, write_baseline
from deployverify.target import load_target

DEFAULT_BASELINE = "deployverify-baseline.json"


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    configure_inputs(parser, name)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help=f"where to write (default: the target's scan.baseline, else {DEFAULT_BASELINE})")


def run(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else None
    configured = None
    if args.config or (not args.path and Path("deployverify.yaml").exists()):
        configured = load_target(args.config or "deployverify.yaml").scan.baseline
    output = output or configured or Path(DEFAULT_BASELINE)
    entries = []
    for job in local_jobs(args):
        report = run_job(job, use_cache=not args.no_cache, apply_baseline=False)
        entries += [BaselineEntry(f.rule, f.path, f.subject, f.fingerprint) for f in report.findings]
    count = write_baseline(output, entries)
    hint = "" if configured is not None and configured.resolve() == output.resolve() else (
        f"; set `scan: {{baseline: {output}}}` in the target file so scans read it")
    print(f"baseline: wrote {count} accepted finding(s) to {output}{hint}")
    return 0
