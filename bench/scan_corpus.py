"""Precision and recall of the stub scan on the labelled corpus (fixtures/scan-corpus/<case>/label.yaml).

A case is predicted "stub" when the scan reports at least one error finding. Recall counts a stub case as found
only when every rule its label expects is among the error findings. Targets: recall 100%, precision >= 98%.

    python bench/scan_corpus.py [--verbose]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: fixtures/

from deployverify.core.results import Severity
from deployverify.gate.stubscan.scan import HandlerSpec, ScanSettings, scan
from deployverify.gate.stubscan.scan_report import ScanReport
from fixtures.scan_corpus import CorpusCase, load_cases


def scan_case(case: CorpusCase, *, use_cache: bool = False) -> ScanReport:
    spec = HandlerSpec(case.handler, case.environment, case.must_reach)
    return scan(case.folder, [spec], ScanSettings(), use_cache=use_cache)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every finding")
    args = parser.parse_args()
    cases = load_cases()
    tp = fp = fn = tn = 0
    started = time.perf_counter()
    for case in cases:
        report = scan_case(case)
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        rules = {f.rule for f in errors}
        predicted = bool(errors)
        if case.stub:
            found = predicted and set(case.expect) <= rules
            tp += found
            fn += not found
            verdict = "ok" if found else f"MISSED (expected {sorted(case.expect)}, got {sorted(rules)})"
        else:
            fp += predicted
            tn += not predicted
            verdict = "ok" if not predicted else f"FALSE POSITIVE {sorted(rules)}"
        print(f"{'stub   ' if case.stub else 'healthy'} {case.name:42} {verdict}")
        if args.verbose or verdict != "ok":
            for finding in report.findings:
                print(f"    {finding.rule} {finding.severity.value} {finding.path}:{finding.line} {finding.message}")
    elapsed = time.perf_counter() - started
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    stubs = sum(c.stub for c in cases)
    print(f"\ncases: {len(cases)} ({stubs} stub, {len(cases) - stubs} healthy) scanned in {elapsed:.2f}s")
    print(f"precision: {precision:.1%} ({tp} of {tp + fp} flagged cases are stubs)")
    print(f"recall:    {recall:.1%} ({tp} of {tp + fn} stub cases found with their expected rules)")
    return 0 if recall == 1.0 and precision >= 0.98 else 1


if __name__ == "__main__":
    sys.exit(main())
