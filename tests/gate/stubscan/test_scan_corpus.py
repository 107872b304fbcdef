"""The labelled corpus (fixtures/scan-corpus): every stub in disguise is caught with the rules its label expects,
and no healthy look-alike gets an error finding. bench/scan_corpus.py prints the same as precision and recall."""

from __future__ import annotations

import pytest

from deployverify.core.results import Severity
from deployverify.gate.stubscan.scan import HandlerSpec, ScanSettings, scan
from fixtures.scan_corpus import CorpusCase, load_cases

CASES = load_cases()


def _scan(case: CorpusCase) -> dict[str, list[str]]:
    report = scan(case.folder, [HandlerSpec(case.handler, case.environment, case.must_reach)], ScanSettings(),
                  use_cache=False)
    errors: dict[str, list[str]] = {}
    for finding in report.findings:
        if finding.severity is Severity.ERROR:
            errors.setdefault(finding.rule, []).append(f"{finding.path}:{finding.line} {finding.message}")
    return errors


def test_corpus_is_large_and_balanced() -> None:
    stubs = [c for c in CASES if c.stub]
    assert len(CASES) >= 120
    assert abs(len(stubs) - (len(CASES) - len(stubs))) <= len(CASES) // 10
    assert all(c.expect for c in stubs), "every stub case names the rules that must catch it"
    covered = {rule for c in stubs for rule in c.expect}
    assert {f"DV30{i}" for i in range(1, 10)} - {"DV306"} <= covered  # DV306 is a warning: it never fails a case


@pytest.mark.parametrize("case", [c for c in CASES if c.stub], ids=lambda c: c.name)
def test_stub_case_is_caught(case: CorpusCase) -> None:
    errors = _scan(case)
    missing = set(case.expect) - set(errors)
    assert not missing, f"{case.name}: expected {sorted(case.expect)}, got {errors}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.stub], ids=lambda c: c.name)
def test_healthy_case_has_no_error(case: CorpusCase) -> None:
    assert _scan(case) == {}
