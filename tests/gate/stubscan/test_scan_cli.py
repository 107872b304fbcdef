"""The stub scan through the real CLI: the seed's mock incident fails naming the mock and the orphaned real task,
the example worker passes clean, SARIF validates against the SARIF 2.1.0 schema, and GitHub annotations print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deployverify.reports.annotations import annotation
from deployverify.reports.sarif import render_sarif_findings

from deployverify.cli import main
from deployverify.core.results import Finding, Severity
from deployverify.gate.stubscan.scan import HandlerSpec, scan
from fixtures.incidents.materialize import EXAMPLE_DIR, materialize

HANDLER = "process_document_lambda.handler"


@cache
def sarif_schema() -> dict[str, Any]:
    text = resources.files("deployverify").joinpath("schemas/sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def assert_valid_sarif(document: dict[str, Any]) -> None:
    __tracebackhide__ = True
    jsonschema.Draft4Validator(sarif_schema()).validate(document)


@pytest.fixture(scope="module")
def mock_stub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize("mock_stub", tmp_path_factory.mktemp("incident") / "mock_stub")


def test_mock_stub_incident_fails_naming_the_mock_and_the_orphan(mock_stub: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sarif = tmp_path / "scan.sarif"
    code = main(["scan", str(mock_stub / "apps/worker-tasks/src"), "--handler", HANDLER, "--no-cache",
                 "--sarif", str(sarif)])
    out = capsys.readouterr().out
    assert code == 1
    assert "handler reaches `process_document_mock`" in out
    assert "call path: handler → process_document_mock" in out
    assert ("handler reaches `process_document_mock()`; `process_document()` (134 lines, tasks/process_document.py)"
            " is never called") in out
    document = json.loads(sarif.read_text())
    assert_valid_sarif(document)
    results = document["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"DV301", "DV302", "DV306", "DV307"}
    mock = next(r for r in results if r["ruleId"] == "DV301")
    assert mock["properties"]["callPath"] == ["handler", "process_document_mock"]
    assert mock["locations"][0]["physicalLocation"]["region"]["startLine"] == 13


def test_mock_stub_incident_fails_the_gate_with_call_paths_in_the_reports(mock_stub: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    completed = subprocess.run(
        [sys.executable, "-m", "deployverify.cli", "gate", "--bundle", str(mock_stub / "apps/worker-tasks/src"),
         "--handler", HANDLER, "--runtime", "python3.11", "-k", "DV3", "--report-dir", str(reports)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "GITHUB_ACTIONS": "true"})
    assert completed.returncode == 1, completed.stdout + completed.stderr
    report = json.loads((reports / "report.json").read_text())
    checks = {c["id"]: c for c in report["checks"]}
    assert {i for i, c in checks.items() if c["status"] == "fail"} == {"DV301", "DV302", "DV307"}
    assert checks["DV306"]["status"] == "pass"
    assert checks["DV306"]["findings"][0]["severity"] == "warning"
    assert checks["DV301"]["findings"][0]["call_path"] == ["handler", "process_document_mock"]
    assert "handler → process_document_mock" in (reports / "report.html").read_text()
    assert_valid_sarif(json.loads((reports / "scan.sarif").read_text()))
    assert "::error file=" in completed.stdout
    assert "title=DV301::" in completed.stdout


def test_example_worker_has_no_findings() -> None:
    roots = [EXAMPLE_DIR / "apps/worker-tasks/src", EXAMPLE_DIR / "apps/backend-api/src"]
    report = scan(roots, [HandlerSpec(HANDLER)], use_cache=False)
    assert report.findings == []
    assert report.suppressed == []
    assert report.handlers[0].functions_reached > 30  # it followed the real pipeline, not an empty graph


def test_example_worker_passes_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(EXAMPLE_DIR / "apps/worker-tasks/src"), "--handler", HANDLER, "--no-cache"]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_target_file_with_scan_paths(mock_stub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = mock_stub / "scan-target.yaml"
    target.write_text("name: mock-stub\nruntime: python3.11\nfunctions:\n  - name: worker\n"
                      f"    handler: {HANDLER}\nbundle:\n  output: build/bundle\n"
                      "scan:\n  paths: [apps/worker-tasks/src, apps/backend-api/src]\n"
                      "  must_reach:\n    worker: [tasks.process_document.process_document]\n")
    assert main(["scan", "-c", str(target), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert ("handler `process_document_lambda.handler` never reaches `tasks.process_document.process_document`; "
            "nearest reachable: `tasks.process_document_mock.process_document_mock`") in out


@pytest.mark.parametrize(("argv", "error"), [
    (["scan", "/no/such/folder", "--handler", "app.handler"], "is not a folder"),
    (["scan", ".", "--handler", "nodot"], "MalformedHandlerName"),
    (["scan", "."], "PATH needs --handler"),
    (["scan", ".", "--handler", "a.b", "--env", "NOEQUALS"], "is not NAME=VALUE"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert error in err
    assert "Traceback" not in err


def test_sarif_without_findings_still_describes_every_rule() -> None:
    document = json.loads(render_sarif_findings([]))
    assert_valid_sarif(document)
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [f"DV30{i}" for i in range(1, 10)]
    assert all(r["help"]["text"] and r["fullDescription"]["text"] for r in rules)


def test_annotation_escapes_workflow_command_syntax() -> None:
    finding = Finding("DV306", "src/a,b.py", 3, "50% done:\nnext", Severity.WARNING, ("handler",))
    assert annotation(finding) == "::warning file=src/a%2Cb.py,line=3,title=DV306::50%25 done:%0Anext " \
                                  "(call path: handler)"


CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "scan-corpus"
GATE_CASES = {  # corpus case -> the DV3xx checks that must fail on it (the rest pass or are not applicable)
    "not_implemented_in_path": {"DV303"},
    "moto_shipped": {"DV304"},
    "env_toggle_defaults_to_mock": {"DV301", "DV305"},
    "suppression_without_reason": {"DV301", "DV309"},
    "must_reach_missing": {"DV308"},
    "must_reach_satisfied_via_method": set(),
    "mock_direct_call": {"DV301", "DV302", "DV307"},
    "grpc_generated_stub_client": set(),
}


def _must_reach(case: str) -> list[str]:
    """What the case's label says its handler must reach; DV308 is not applicable without it."""
    label = yaml.safe_load((CORPUS / case / "label.yaml").read_text(encoding="utf-8"))
    return list(label.get("must_reach", []))


def _gate_target(case: str, folder: Path) -> Path:
    must = f"  must_reach:\n    worker: [{', '.join(_must_reach(case))}]\n" if _must_reach(case) else ""
    target = folder / "deployverify.yaml"
    target.write_text(f"name: {case}\nruntime: python3.11\nfunctions:\n  - name: worker\n    handler: app.handler\n"
                      f"bundle:\n  output: {CORPUS / case}\nscan:\n  orphan_min_lines: 60\n{must}")
    return target


@pytest.mark.dv_outcomes("DV301:fail", "DV302:fail", "DV303:fail", "DV304:fail", "DV305:fail",
                         "DV307:fail", "DV308:fail", "DV309:fail", "DV301:pass", "DV302:pass", "DV303:pass",
                         "DV304:pass", "DV305:pass", "DV306:pass", "DV307:pass", "DV308:pass", "DV309:pass")
@pytest.mark.parametrize(("case", "failing"), GATE_CASES.items(), ids=list(GATE_CASES))
def test_each_stub_check_fails_the_gate_on_its_bad_fixture(case: str, failing: set[str], tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    completed = subprocess.run(
        [sys.executable, "-m", "deployverify.cli", "gate", "-c", str(_gate_target(case, tmp_path)), "-k", "DV3",
         "--report-dir", str(reports)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == (1 if failing else 0), completed.stdout + completed.stderr
    statuses = {c["id"]: c["status"] for c in json.loads((reports / "report.json").read_text())["checks"]}
    assert {i for i, s in statuses.items() if s == "fail"} == failing
    assert set(statuses) == {f"DV30{i}" for i in range(1, 10)}
    assert statuses["DV308"] == ("fail" if "DV308" in failing else "pass" if _must_reach(case) else "skip")


def test_bundle_paths_map_back_to_the_source_tree(mock_stub: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(mock_stub / "apps/worker-tasks/src", bundle)
    shutil.copytree(mock_stub / "apps/backend-api/src/shared", bundle / "shared")
    target = mock_stub / "mapped.yaml"
    target.write_text(f"name: mapped\nruntime: python3.11\nfunctions:\n  - name: worker\n    handler: {HANDLER}\n"
                      f"bundle:\n  output: {bundle}\n  source_roots: [apps/worker-tasks/src, apps/backend-api/src]\n")
    monkeypatch.chdir(mock_stub)  # as in a CI job: the working folder is the repository root
    sarif = tmp_path / "scan.sarif"
    assert main(["scan", "-c", str(target), "--no-cache", "--sarif", str(sarif)]) == 1
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(sarif.read_text())["runs"][0]["results"]}
    assert "apps/worker-tasks/src/tasks/process_document_mock.py" in uris
    assert "apps/worker-tasks/src/tasks/process_document.py" in uris
