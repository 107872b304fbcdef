"""DV3xx: what the handler actually reaches is real code, not a mock, a stub or a placeholder.

Every check reads one scan (the `stub_scan` fixture): a call graph from each handler over the bundle's first-party
code, then one rule per check. Findings carry the call path from the handler; suppress one with
`# deployverify: allow DV3nn reason="..."` on its line, `scan.allow` in the target file, or a baseline.
"""

from __future__ import annotations

from deployverify.core import check as dv
from deployverify.core.check import check
from deployverify.gate.stubscan.scan_report import ScanReport
from deployverify.target import Target


def _expect_none(report: ScanReport, rule: str) -> None:
    __tracebackhide__ = True
    for note in report.notes:
        dv.evidence(note)
    reached = ", ".join(f"{h.handler}: {h.functions_reached} functions" for h in report.handlers)
    dv.evidence(f"scanned {report.first_party_files} first-party files ({'cached' if report.cached else 'fresh'}); "
                f"reached {reached}")
    suppressed = [f"{f.rule} {f.path}:{f.line} suppressed ({why})" for f, why in report.suppressed if f.rule == rule]
    if suppressed:
        dv.evidence(*suppressed)
    dv.expect_no_findings(report.results(rule))


@check("DV301")
def test_dv301_no_mock_named_code_reached(stub_scan: ScanReport) -> None:
    """No function or class named mock, stub, fake, dummy or placeholder (as a word) that behaves like a test double
    is reachable from a handler.

    The name is evidence, behaviour decides: a finding lives in a test module, subclasses or wraps a test double,
    returns a constant ignoring its inputs, or does no I/O, and its message says which. A `_stub()` that builds a
    gRPC client passes. The call graph follows direct calls, imports and module aliases, instances and their
    methods, functions passed as values, dispatch tables and factories, Powertools routes and batch record
    handlers, registry decorators, named lambdas, `partial`, `getattr` and `importlib.import_module` with literals.
    Generated gRPC `*Stub` clients (`*_pb2_grpc`) are real code.
    """
    _expect_none(stub_scan, "DV301")


@check("DV302")
def test_dv302_no_success_without_work(stub_scan: ScanReport) -> None:
    """No reachable function only logs and returns a success-shaped constant (`{"status": "success"}`, `True`,
    `"ok"`, `{"statusCode": 200}`): the signature of the mock that ran in production for 45 days."""
    _expect_none(stub_scan, "DV302")


@check("DV303")
def test_dv303_no_placeholders_reached(stub_scan: ScanReport) -> None:
    """No reachable function raises NotImplementedError or has a body of only `pass` or `...`.

    Abstract methods, Protocol members, overloads and base methods that subclasses override are excluded.
    """
    _expect_none(stub_scan, "DV303")


@check("DV304")
def test_dv304_no_test_doubles_shipped(stub_scan: ScanReport) -> None:
    """Code the handlers load does not import unittest.mock, moto, pytest, responses, freezegun or faker."""
    _expect_none(stub_scan, "DV304")


@check("DV305")
def test_dv305_no_mock_toggle_defaults_to_mock(stub_scan: ScanReport) -> None:
    """No MOCK/USE_MOCK/STUB/FAKE/DRY_RUN-style flag sends a handler down a mock path by default.

    Flags are evaluated with the function's declared environment (functions[].environment), else the code's
    default; the call graph follows only the branch the deployed function takes.
    """
    _expect_none(stub_scan, "DV305")


@check("DV306")
def test_dv306_no_markers_in_reached_code(stub_scan: ScanReport) -> None:
    """TODO, FIXME, XXX and HACK comments inside reachable functions are reported as warnings.

    With `scan.fail_on_todo: true` in the target they are errors and fail the gate."""
    _expect_none(stub_scan, "DV306")


@check("DV307")
def test_dv307_no_orphaned_implementation(stub_scan: ScanReport) -> None:
    """While a stub is reached, no large first-party function or module (scan.orphan_min_lines) is left unreached:
    the finding names the stub and the real implementation nobody calls."""
    _expect_none(stub_scan, "DV307")


@check("DV308")
def test_dv308_required_functions_reached(target: Target, stub_scan: ScanReport) -> None:
    """Each handler reaches every function the target lists for it in scan.must_reach."""
    if not target.scan.must_reach:
        dv.not_applicable("the target lists no scan.must_reach")
    _expect_none(stub_scan, "DV308")


@check("DV309")
def test_dv309_suppressions_give_reasons(stub_scan: ScanReport) -> None:
    """Every inline `# deployverify: allow DV3nn` suppression says reason=\"...\"; one without suppresses nothing."""
    _expect_none(stub_scan, "DV309")
