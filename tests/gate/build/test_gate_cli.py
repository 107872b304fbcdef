"""The build/bundle, native-extension and import-closure checks end to end: the real `deployverify gate` CLI in a
subprocess on each bad fixture and on the healthy example, reading report.json.

Every run selects `-k "DV1 or DV20 or DV222"` (DV101-DV104, DV201-DV205, DV222). A bad fixture must fail exactly
the check it is for, with its cause in the message; everything else selected passes, except DV104, which has no
deployed function to compare with here (tests/deployed/test_code_identity_gate.py covers it against moto). The
example worker and the incident variants are built by their own build.sh (real pip, Lambda's platform wheels).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.incidents.materialize import EXAMPLE_DIR, materialize
from tests.support.native_generator import load_native_generator

REPO_ROOT = Path(__file__).resolve().parents[3]
BAD_BUNDLES = REPO_ROOT / "fixtures" / "bad-bundles"
SELECTED = ("DV101", "DV102", "DV103", "DV104", "DV201", "DV202", "DV203", "DV204", "DV205", "DV222")
UNZIPPED_LIMIT = 262_144_000
WORKER_TARGET = """\
name: docworker
runtime: python3.11
functions:
  - name: worker
    handler: process_document_lambda.handler
bundle:
  command: bash build.sh build/bundle
  output: build/bundle
  source_roots: [apps/worker-tasks/src, apps/backend-api/src, apps]
"""


make_native = load_native_generator()


@pytest.fixture(scope="session")
def native_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made: dict[str, Path] = make_native.generate(tmp_path_factory.mktemp("gate-native"))
    return made


def run_gate(args: list[str], report_dir: Path, cache: Path) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "DV_CACHE_DIR": str(cache), "PYTHON": sys.executable}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(name, None)  # DV104 must find nothing deployed, not a real account
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", *args, "--report-dir", str(report_dir),
                           "-k", "DV1 or DV20 or DV222"], env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == ("pass" if done.returncode == 0 else "fail")
    return {check["id"]: check for check in report["checks"]}


def bundle_args(bundle: Path) -> list[str]:
    return ["--bundle", str(bundle), "--handler", "app.handler", "--runtime", "python3.11"]


def worker_args(source: Path) -> list[str]:
    (source / "deployverify.yaml").write_text(WORKER_TARGET, encoding="utf-8")
    return ["-c", str(source / "deployverify.yaml")]


def oversized_bundle(root: Path) -> Path:
    """A working handler plus a sparse 'model' file: 262 MB apparent size on no disk, created at test time."""
    root.mkdir(parents=True)
    (root / "app.py").write_text("def handler(event, context):\n    return {}\n", encoding="utf-8")
    (root / "model").mkdir()
    with (root / "model" / "weights.bin").open("wb") as handle:
        handle.truncate(UNZIPPED_LIMIT + 1)
    return root


Case = Callable[[Path, dict[str, Path]], list[str]]


def native_case(name: str) -> Case:
    return lambda tmp, made: bundle_args(made[name])


# case -> (how to get the gate's target arguments, {check id: (status, phrase its message contains)})
CASES: dict[str, tuple[Case, dict[str, tuple[str, str]]]] = {
    **{name: (native_case(name), {check_id: ("fail", phrase)})
       for name, (check_id, phrase) in make_native.CASES.items()},
    "lazy_missing_import": ((lambda tmp, made: bundle_args(BAD_BUNDLES / "lazy_missing_import")), {
        "DV222": ("fail", "`yaml_missing_pkg` imported at app.py:14 (`import yaml_missing_pkg`, inside a function: "
                          "it fails only when that code runs) is not in the bundle, the standard library or the "
                          "runtime; add `yaml_missing_pkg` to the build's requirements")}),
    "oversized": ((lambda tmp, made: bundle_args(oversized_bundle(tmp / "oversized"))), {
        "DV103": ("fail", "bundle is 262,144,0")}),
    "failing_build": ((lambda tmp, made: ["-c", str(BAD_BUNDLES / "failing_build" / "deployverify.yaml")]), {
        "DV101": ("fail", "exited 3; fix the build, its stderr ends: ERROR: No matching distribution found for "
                          "pymupdf==9.9.9"),
        **{cid: ("skip", "blocked by DV101") for cid in SELECTED if cid != "DV101"}}),
    "import_path": ((lambda tmp, made: worker_args(materialize("import_path", tmp / "import_path"))), {
        "DV222": ("fail", "`worker_tasks` imported at process_document_lambda.py:24 (`from "
                          "worker_tasks.src.models.worker_document import WorkerDocument`) is not in the bundle, the "
                          "standard library or the runtime; the bundle has `models/worker_document.py`, so the "
                          "import should be `models.worker_document`")}),
    "missing_shared_module": ((lambda tmp, made: worker_args(materialize("missing_shared_module", tmp / "shared"))), {
        "DV222": ("fail", "`shared.storage` imported at process_document_lambda.py:25 (`from "
                          "shared.storage.s3_service import S3Service`) is not in the bundle, the standard library or "
                          "the runtime; the source tree has it at apps/backend-api/src/shared/storage and the build "
                          "does not copy it")}),
}


@pytest.mark.dv_outcomes("DV101:fail", "DV103:fail", "DV201:fail", "DV202:fail", "DV203:fail", "DV204:fail",
                         "DV205:fail", "DV222:fail")
@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_bad_fixture_fails_exactly_its_check(case: str, tmp_path: Path, native_bundles: dict[str, Path]) -> None:
    make_args, expected = CASES[case]
    results = run_gate(make_args(tmp_path, native_bundles), tmp_path / "report", tmp_path / "cache")
    assert sorted(results) == sorted(SELECTED)
    for check_id in SELECTED:
        status, phrase = expected.get(check_id, ("skip" if check_id == "DV104" else "pass", ""))
        result = results[check_id]
        assert result["status"] == status, (check_id, result["message"])
        assert phrase in result["message"], (check_id, result["message"])


@pytest.mark.dv_outcomes("DV101:pass", "DV102:pass", "DV103:pass", "DV201:pass", "DV202:pass", "DV203:pass",
                         "DV204:pass", "DV205:pass", "DV222:pass")
@pytest.mark.slow
def test_healthy_example_passes_every_build_native_and_import_check(tmp_path: Path) -> None:
    source = tmp_path / "docworker"
    shutil.copytree(EXAMPLE_DIR, source, ignore=shutil.ignore_patterns("build", "__pycache__"))
    results = run_gate(worker_args(source), tmp_path / "report", tmp_path / "cache")
    statuses = {check_id: result["status"] for check_id, result in results.items()}
    assert statuses == {**dict.fromkeys(SELECTED, "pass"), "DV104": "skip"}, results
    evidence = " ".join(results["DV201"]["evidence"])
    assert "extension module(s)" in evidence
    assert "highest glibc need GLIBC_2.17" in evidence  # manylinux2014 wheels, as build.sh asks pip for
