"""DV210-DV212 through the real CLI: each bad bundle fails the check it targets, with Lambda's error and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deployverify.gate.cold_start import cold_start_finding
from tests.support.env import TEST_IMAGE, require_docker
from tests.support.gate_run import GateRun, run_gate

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad-bundles"
sys.path.insert(0, str(BAD))
from make_imports import complete  # noqa: E402 - the fixture generator lives beside the fixtures


def gate_on(fixture: str, handler: str, tmp_path: Path, *extra: str) -> GateRun:
    bundle = complete(BAD / fixture, tmp_path / fixture)
    return run_gate(["--bundle", str(bundle), "--handler", handler, "--runtime", "python3.11", "--image", TEST_IMAGE,
                     *extra], tmp_path / "report", env={"DV_CACHE_DIR": str(tmp_path / "cache")})


# fixture, handler, {check: expected status}, the check whose message must name the cause, phrases it must contain
CASES = [
    ("handler_not_found", "app.handler", {"DV210": "pass", "DV211": "fail", "DV212": "skip"}, "DV211",
     ["Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'", "`lambda_handler`"]),
    ("namespace_handler", "src/app.handler", {"DV210": "pass", "DV211": "pass", "DV212": "pass", "DV220": "pass"},
     None, []),
    ("crash_at_import", "app.handler", {"DV210": "pass", "DV211": "fail", "DV220": "fail"}, "DV211",
     ["gives KeyError", "'DOCUMENT_BUCKET'", "app.py:5", "functions[].environment"]),
    ("builtin_conflict", "time.handler", {"DV210": "fail", "DV211": "fail"}, "DV210",
     ["Runtime.BuiltInModuleConflict", "time_handler.handler"]),
    ("syntax_error", "app.handler", {"DV210": "pass", "DV211": "fail", "DV220": "fail"}, "DV211",
     ["Runtime.UserCodeSyntaxError", "expected ':'", "app.py:4"]),
]


@pytest.mark.dv_outcomes("DV210:pass", "DV210:fail", "DV211:pass", "DV211:fail", "DV212:pass", "DV220:pass",
                         "DV220:fail", "DV230:pass")
@pytest.mark.parametrize(("fixture", "handler", "expected", "named_by", "phrases"), CASES,
                         ids=[case[0] for case in CASES])
def test_handler_checks(fixture: str, handler: str, expected: dict[str, str], named_by: str | None,
                        phrases: list[str], tmp_path: Path) -> None:
    require_docker()
    run = gate_on(fixture, handler, tmp_path)
    assert {check: run.status(check) for check in expected} == expected, run.output[-2000:]
    if named_by:
        for phrase in phrases:
            assert phrase in run.message(named_by)
        assert run.code == 1
    assert run.status("DV230") == "pass"


def test_cold_start_over_budget_is_a_warning(tmp_path: Path) -> None:
    require_docker()
    bundle = tmp_path / "slow"
    bundle.mkdir()
    (bundle / "app.py").write_text("import time\ntime.sleep(0.3)\n\n\ndef handler(event, context):\n    return 1\n")
    (tmp_path / "gate.yaml").write_text(
        f"name: slow\nruntime: python3.11\nbundle: {{output: {bundle}}}\n"
        "functions:\n  - {name: f, handler: app.handler, init_budget_ms: 100}\n")
    run = run_gate(["-c", str(tmp_path / "gate.yaml"), "--image", TEST_IMAGE], tmp_path / "report",
                   env={"DV_CACHE_DIR": str(tmp_path / "cache")})
    assert run.status("DV212") == "pass"
    [warning] = run.findings("DV212", "warning")
    assert "importing `app.handler` took" in warning["message"]
    assert "(budget 100 ms" in warning["message"]


# The probe's record of importing a handler, as the sandbox writes it (init_ms, peak RSS in KB).
@pytest.mark.parametrize(("init_ms", "budget_ms", "expected"), [
    (120.0, 3000, None),                      # within the budget and Lambda's limit: pass
    (4200.0, 3000, "warning"),                # over the target's budget only: a warning, the check passes
    (10_450.0, 3000, "error"),                # over Lambda's 10 s init limit: the check fails
    (10_450.0, 20_000, "error"),              # a budget above Lambda's limit does not hide it
])
def test_cold_start_verdict(init_ms: float, budget_ms: int, expected: str | None) -> None:
    record = {"handler": "app.handler", "ok": True, "init_ms": init_ms, "peak_rss_kb": 51_200}
    finding = cold_start_finding(record, budget_ms, 128)
    assert (finding.severity.value if finding else None) == expected
    if finding is not None:
        assert f"took {round(init_ms)} ms" in finding.message
        assert f"budget {budget_ms} ms" in finding.message
        assert ("Lambda's init limit: the function cannot start" in finding.message) is (expected == "error")


def test_cold_start_of_a_handler_that_does_not_import_is_not_judged() -> None:
    assert cold_start_finding({"handler": "app.handler", "ok": False, "init_ms": 12_000}, 3000, None) is None
