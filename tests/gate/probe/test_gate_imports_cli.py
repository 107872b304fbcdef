"""DV220/DV221/DV230 through the real CLI: missing modules named with their fix, optional deps only warn,
the isolation used is reported, and the probe runs once per run even under xdist."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import TEST_IMAGE, require_bwrap, require_docker
from tests.support.gate_run import GateRun, run_gate

REPO = Path(__file__).resolve().parents[3]
BAD = REPO / "fixtures" / "bad-bundles"
EXAMPLE = REPO / "examples" / "docworker"
sys.path.insert(0, str(BAD))
from make_imports import complete  # noqa: E402 - the fixture generator lives beside the fixtures

# The gate-relevant part of the example's deployverify.yaml, so a copy builds and checks anywhere.
GATE_TARGET = """name: docworker
runtime: python3.11
bundle:
  command: ./build.sh build/bundle
  output: build/bundle
  inputs: [apps, build.sh, requirements.txt]
  source_roots: [apps/worker-tasks/src, apps/backend-api/src]
functions:
  - name: DocumentWorkerFunction
    handler: process_document_lambda.handler
    memory_mb: 1024
    environment: {DB_SECRET_ID: docworker/dev/database, DOCUMENT_BUCKET: docworker-dev-documents}
"""


def _copy_example(variant: str | None, dest: Path) -> Path:
    if variant:
        from fixtures.incidents.materialize import materialize

        materialize(variant, dest)
    else:
        shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("build", "__pycache__"))
    (dest / "gate.yaml").write_text(GATE_TARGET)
    return dest


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GateRun]]:
    """The healthy example and two incident variants, each materialized, built by its build.sh and gated once."""
    require_docker()
    root = tmp_path_factory.mktemp("examples")
    runs: dict[str, GateRun] = {}
    try:
        for variant in ("healthy", "import_path", "missing_shared_module"):
            folder = _copy_example(None if variant == "healthy" else variant, root / variant)
            runs[variant] = run_gate(["-c", str(folder / "gate.yaml"), "--image", TEST_IMAGE, "-n", "2"],
                                     root / f"{variant}-report", env={"DV_CACHE_DIR": str(root / f"{variant}-cache")})
        yield runs
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.dv_outcomes("DV210:pass", "DV211:pass", "DV220:pass", "DV221:pass", "DV230:pass")
def test_healthy_example_passes_in_the_container(example_runs: dict[str, GateRun]) -> None:
    run = example_runs["healthy"]
    for check in ("DV210", "DV211", "DV220", "DV221", "DV230"):
        assert run.status(check) == "pass", f"{check}: {run.message(check)}"
    assert "Docker container of `deployverify/lambda-python:3.11`" in run.evidence("DV230")
    assert run.findings("DV220") == []
    assert run.findings("DV221", "error") == []


def test_probe_runs_once_under_xdist(example_runs: dict[str, GateRun]) -> None:
    run = example_runs["healthy"]
    ids = {check: re.findall(r"probe ([0-9a-f]{8})", run.evidence(check)) for check in ("DV211", "DV220", "DV230")}
    assert all(len(found) == 1 for found in ids.values()), ids
    assert len({found[0] for found in ids.values()}) == 1, ids


@pytest.mark.parametrize(("variant", "phrases"), [
    ("import_path", ["`process_document_lambda` fails to import", "No module named 'worker_tasks'",
                     "process_document_lambda.py:24", "the bundle has `models/worker_document.py`",
                     "the import should be `models.worker_document`"]),
    ("missing_shared_module", ["No module named 'shared.storage'",
                               "the source tree has it at apps/backend-api/src/shared/storage",
                               "the build does not copy it"]),
])
def test_incident_variants_fail_dv220_with_the_fix(variant: str, phrases: list[str],
                                                   example_runs: dict[str, GateRun]) -> None:
    run = example_runs[variant]
    assert run.code == 1
    assert run.status("DV101") == "pass"
    assert run.status("DV220") == "fail"
    for phrase in phrases:
        assert phrase in run.message("DV220")
    assert run.status("DV211") == "fail"
    assert "Runtime.ImportModuleError" in run.message("DV211")


def gate_on(fixture: str, handler: str, tmp_path: Path, *extra: str, ci: str | None = None) -> GateRun:
    bundle = complete(BAD / fixture, tmp_path / fixture)
    env = {"DV_CACHE_DIR": str(tmp_path / "cache"), **({} if ci is None else {"CI": ci})}
    return run_gate(["--bundle", str(bundle), "--handler", handler, "--runtime", "python3.11", *extra],
                    tmp_path / "report", env=env)


@pytest.mark.dv_outcomes("DV220:fail", "DV221:fail")
def test_psycopg2_without_its_extension(tmp_path: Path) -> None:
    require_docker()
    run = gate_on("psycopg2_no_extension", "app.handler", tmp_path, "--image", TEST_IMAGE)
    assert (run.status("DV220"), run.status("DV221")) == ("fail", "fail")
    for check in ("DV220", "DV221"):
        assert "psycopg2._psycopg" in run.message(check)
        assert "install `psycopg2-binary` for the runtime" in run.message(check)
        assert "--python-version 3.11" in run.message(check)
    assert "`psycopg2` (reached from app.py:3)" in run.message("DV221")
    [finding] = run.findings("DV220")
    assert (finding["path"], finding["line"]) == ("app.py", 3)


def test_unreached_optional_module_only_warns(tmp_path: Path) -> None:
    """A healthy worker whose bundled package has an optional part that cannot import still passes."""
    require_docker()
    bundle = tmp_path / "optional"
    (bundle / "vendorlib").mkdir(parents=True)
    (bundle / "vendorlib" / "__init__.py").write_text("VERSION = '1.0'\n")
    (bundle / "vendorlib" / "qt_viewer.py").write_text("import PyQt6  # optional GUI extra\n")
    (bundle / "vendorlib-1.0.dist-info").mkdir()
    (bundle / "vendorlib-1.0.dist-info" / "top_level.txt").write_text("vendorlib\n")
    (bundle / "app.py").write_text("import vendorlib\n\n\ndef handler(event, context):\n    return vendorlib.VERSION\n")
    run = run_gate(["--bundle", str(bundle), "--handler", "app.handler", "--runtime", "python3.11", "--image",
                    TEST_IMAGE], tmp_path / "report", env={"DV_CACHE_DIR": str(tmp_path / "cache")})
    assert (run.status("DV220"), run.status("DV221")) == ("pass", "pass")
    [warning] = run.findings("DV221", "warning")
    assert "`vendorlib.qt_viewer`" in warning["message"]
    assert "No module named 'PyQt6'" in warning["message"]


@pytest.mark.dv_outcomes("DV230:fail")
def test_require_image_fails_without_the_image(tmp_path: Path) -> None:
    run = gate_on("namespace_handler", "src/app.handler", tmp_path, "--image", "deployverify/no-such-image:0",
                  "--require-image")
    assert run.status("DV230") == "fail"
    assert "deployverify/no-such-image:0" in run.message("DV230")
    assert "--require-image" in run.message("DV230")
    for check in ("DV211", "DV220", "DV221"):
        assert run.status(check) == "skip"
        assert run.message(check).startswith("blocked by DV230")
    assert run.code == 1


def test_fallback_passes_with_a_lower_fidelity_warning(tmp_path: Path) -> None:
    require_bwrap()
    run = gate_on("namespace_handler", "src/app.handler", tmp_path, "--image", "deployverify/no-such-image:0", ci="")
    assert run.status("DV230") == "pass"
    [warning] = run.findings("DV230", "warning")
    assert "bubblewrap" in warning["message"]
    assert "deployverify/no-such-image:0" in warning["message"]
    assert "lower fidelity" in warning["message"]
    assert (run.status("DV211"), run.status("DV220")) == ("pass", "pass")


def test_dv230_fails_in_ci_when_the_probe_fell_back(tmp_path: Path) -> None:
    """In CI a weaker sandbox is not evidence that the bundle imports in Lambda: the fallback is a failure."""
    require_bwrap()
    run = gate_on("namespace_handler", "src/app.handler", tmp_path, "--image", "deployverify/no-such-image:0",
                  ci="true")
    assert run.status("DV230") == "fail"
    assert "deployverify/no-such-image:0" in run.message("DV230")
    assert "CI=true: a fallback sandbox is a failure" in run.message("DV230")
    assert run.code == 1
