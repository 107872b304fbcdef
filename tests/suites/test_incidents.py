"""Each incident variant (fixtures/incidents) is broken the way the seed describes, shown by real execution.

Bundles are built with each variant's own build.sh (real pip, Lambda's platform wheels) once per session, and
handlers are loaded the way Lambda loads them: a fresh interpreter with no site-packages, the bundle root first on
sys.path, then a stand-in for the runtime's own directory that holds only boto3 and its dependencies.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2.extensions
import pytest
import yaml

from fixtures.incidents.materialize import EXAMPLE_DIR, INCIDENTS_DIR, VARIANTS, materialize

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "fixtures" / "documents"
HEALTHY = "healthy"
HANDLER = "process_document_lambda.handler"
# What the python3.11 runtime puts on sys.path after /var/task: boto3 and its dependencies, nothing else.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
SQS_EVENT = {
    "Records": [
        {
            "messageId": "0f6c2a8e-1b1e-4c55-9d5c-0c6f5f2b7d11",
            "eventSource": "aws:sqs",
            "body": json.dumps({"document_id": 42, "run_id": "dv-incident-test"}),
        }
    ]
}
SECRET_WITH_DATABASE_KEY = {
    "host": "db.internal",
    "port": 5432,
    "username": "docworker",
    "password": "not-a-real-password",
    "database": "credmate",
}

# Runs inside the Lambda-like interpreter: argv = bundle, runtime dir, handler, [event JSON | "analyse"].
LAMBDA_BOOTSTRAP = """
import importlib, json, sys
bundle, runtime, handler_name = sys.argv[1:4]
sys.path[:0] = [bundle, runtime]
module_name, function_name = handler_name.rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), function_name)
if len(sys.argv) > 4:
    print(json.dumps(handler(json.loads(sys.argv[4]), None)))
"""

# Runs the bundle's own analysis (with the bundle's PyMuPDF) on the given PDFs and prints what it found.
ANALYSE_IN_BUNDLE = """
import json, sys
bundle, runtime, *pdfs = sys.argv[1:]
sys.path[:0] = [bundle, runtime]
import pymupdf
from tasks.process_document import analyse_pdf
results = {}
for pdf in pdfs:
    analysis = analyse_pdf(open(pdf, "rb").read())
    results[pdf] = {"document_type": analysis.document_type, "confidence": analysis.confidence,
                    "fields": analysis.fields}
print(json.dumps({"pymupdf_file": pymupdf.__file__, "pymupdf_version": pymupdf.VersionBind, "results": results}))
"""

BundleFactory = Callable[[str], Path]


@pytest.fixture(scope="session")
def lambda_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, f"{name} must be installed to stand in for the Lambda runtime"
        assert spec.origin is not None
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> BundleFactory:
    """Build a variant's bundle (or the healthy example's, as "healthy") with its own build.sh, once per session."""
    root = tmp_path_factory.mktemp("bundles")
    built: dict[str, Path] = {}

    def build(variant: str) -> Path:
        if variant not in built:
            source = EXAMPLE_DIR if variant == HEALTHY else materialize(variant, root / "sources" / variant)
            bundle = root / "bundles" / variant
            done = subprocess.run(
                ["bash", str(source / "build.sh"), str(bundle)],
                env={**os.environ, "PYTHON": sys.executable},
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"build.sh for {variant} failed:\n{done.stderr}"
            built[variant] = bundle
        return built[variant]

    return build


def run_in_lambda_interpreter(
    script: str, bundle: Path, runtime: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter like Lambda's: isolated (-I), no site-packages (-S), cwd at the bundle root, and no .pyc
    written into it (-B), as /var/task is read-only."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", script, str(bundle), str(runtime), *args],
        cwd=bundle,
        env=env if env is not None else {},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_module_from(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variant_spec(variant: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((INCIDENTS_DIR / variant / "variant.yaml").read_text(encoding="utf-8"))
    return spec


# --- the healthy baseline --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_healthy_bundle_has_the_layout_lambda_expects(bundles: BundleFactory) -> None:
    bundle = bundles(HEALTHY)

    for relative in (
        "process_document_lambda.py",
        "db.py",
        "models/worker_document.py",
        "tasks/process_document.py",
        "services/extractor.py",
        "shared/storage/s3_service.py",
    ):
        assert (bundle / relative).is_file(), f"{relative} missing from the bundle"
    assert not (bundle / "boto3").exists(), "boto3 is provided by the runtime and must not be bundled"
    assert not list(bundle.rglob("__pycache__/process_document_lambda*.pyc"))


@pytest.mark.slow
def test_healthy_bundle_wheels_fit_amazon_linux_2(bundles: BundleFactory) -> None:
    bundle = bundles(HEALTHY)

    for distribution in ("pymupdf", "psycopg2_binary"):
        (dist_info,) = bundle.glob(f"{distribution}-*.dist-info")
        tags = [line for line in (dist_info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")]
        assert any("manylinux2014_x86_64" in tag or "manylinux_2_17_x86_64" in tag for tag in tags), tags


@pytest.mark.slow
def test_healthy_handler_imports_in_a_lambda_like_interpreter(bundles: BundleFactory, lambda_runtime_dir: Path) -> None:
    done = run_in_lambda_interpreter(LAMBDA_BOOTSTRAP, bundles(HEALTHY), lambda_runtime_dir, HANDLER)

    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_healthy_bundle_reads_the_fixtures_with_its_own_wheels(
    bundles: BundleFactory, lambda_runtime_dir: Path
) -> None:
    bundle = bundles(HEALTHY)
    expected = yaml.safe_load((FIXTURES_DIR / "expected.yaml").read_text(encoding="utf-8"))
    pdfs = [str(FIXTURES_DIR / name) for name in expected]

    done = run_in_lambda_interpreter(ANALYSE_IN_BUNDLE, bundle, lambda_runtime_dir, *pdfs)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["pymupdf_file"]).is_relative_to(bundle)
    assert report["pymupdf_version"] == "1.26.0"
    for name, want in expected.items():
        got = report["results"][str(FIXTURES_DIR / name)]
        assert got["document_type"] == want["document_type"], name
        assert got["confidence"] >= want["min_confidence"], name
        assert got["fields"] == want["fields"], name


# --- mock_stub ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_mock_stub_reports_success_with_no_database_bucket_or_aws(
    bundles: BundleFactory, lambda_runtime_dir: Path
) -> None:
    event = json.dumps(SQS_EVENT)

    stub = run_in_lambda_interpreter(LAMBDA_BOOTSTRAP, bundles("mock_stub"), lambda_runtime_dir, HANDLER, event)
    healthy = run_in_lambda_interpreter(LAMBDA_BOOTSTRAP, bundles(HEALTHY), lambda_runtime_dir, HANDLER, event)

    # Nothing to connect to, and still "success": the signature of a stub.
    assert stub.returncode == 0, stub.stderr
    assert json.loads(stub.stdout) == {"status": "success"}
    assert "Database connection established" not in stub.stderr
    # The real worker cannot succeed without its secret, and says which setting is missing.
    assert healthy.returncode != 0
    assert "DB_SECRET_ID is not set" in healthy.stderr
    assert "[ERROR] Document 42 failed" in healthy.stderr


@pytest.mark.slow
def test_mock_stub_ships_the_real_task_unused(bundles: BundleFactory) -> None:
    stub_bundle, healthy_bundle = bundles("mock_stub"), bundles(HEALTHY)
    handler_source = (stub_bundle / "process_document_lambda.py").read_text()

    assert (stub_bundle / "tasks" / "process_document.py").read_bytes() == (
        healthy_bundle / "tasks" / "process_document.py"
    ).read_bytes()
    assert "process_document_mock(" in handler_source
    assert "tasks.process_document import" not in handler_source


# --- import_path -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_import_path_handler_cannot_be_loaded_from_the_bundle(bundles: BundleFactory, lambda_runtime_dir: Path) -> None:
    bundle = bundles("import_path")

    done = run_in_lambda_interpreter(LAMBDA_BOOTSTRAP, bundle, lambda_runtime_dir, HANDLER)

    assert done.returncode != 0
    assert "ModuleNotFoundError: No module named 'worker_tasks'" in done.stderr
    # The module it wants is there, under the path Lambda actually uses.
    assert (bundle / "models" / "worker_document.py").is_file()


def _top_level_statements(path: Path) -> Counter[str]:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return Counter(ast.dump(node) for node in body)


def test_import_path_differs_from_the_healthy_handler_only_in_that_import() -> None:
    relative = "apps/worker-tasks/src/process_document_lambda.py"
    variant = _top_level_statements(INCIDENTS_DIR / "import_path" / "overlay" / relative)
    healthy = _top_level_statements(EXAMPLE_DIR / relative)

    (added,) = (variant - healthy).elements()
    (removed,) = (healthy - variant).elements()
    assert "module='worker_tasks.src.models.worker_document'" in added
    assert "module='models.worker_document'" in removed


# --- secret_key_mismatch -----------------------------------------------------------------------------------------


def test_secret_key_mismatch_passes_database_none_for_a_database_key_secret(tmp_path: Path) -> None:
    variant = materialize("secret_key_mismatch", tmp_path / "variant")
    variant_db = load_module_from(variant / "apps/worker-tasks/src/db.py", "docworker_variant_db")
    healthy_db = load_module_from(EXAMPLE_DIR / "apps/worker-tasks/src/db.py", "docworker_healthy_db")

    broken = variant_db.connection_params(SECRET_WITH_DATABASE_KEY)
    fixed = healthy_db.connection_params(SECRET_WITH_DATABASE_KEY)

    assert broken["dbname"] == "None"
    # The connection string psycopg2 hands to libpq; the server answers: FATAL: database "None" does not exist.
    assert psycopg2.extensions.parse_dsn(psycopg2.extensions.make_dsn(**broken))["dbname"] == "None"
    assert fixed["dbname"] == "credmate"


def test_secret_key_mismatch_works_with_an_rds_style_secret(tmp_path: Path) -> None:
    """Why it shipped: against a secret that happens to use "dbname", the variant connects to the right database."""
    variant = materialize("secret_key_mismatch", tmp_path / "variant")
    variant_db = load_module_from(variant / "apps/worker-tasks/src/db.py", "docworker_variant_db")
    secret = {key: value for key, value in SECRET_WITH_DATABASE_KEY.items() if key != "database"}

    assert variant_db.connection_params({**secret, "dbname": "credmate"})["dbname"] == "credmate"


# --- missing_shared_module ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_missing_shared_module_bundle_has_no_storage_package(
    bundles: BundleFactory, lambda_runtime_dir: Path, tmp_path: Path
) -> None:
    bundle = bundles("missing_shared_module")
    source = materialize("missing_shared_module", tmp_path / "source")

    assert (bundle / "shared" / "__init__.py").is_file()
    assert not (bundle / "shared" / "storage").exists()
    assert (bundles(HEALTHY) / "shared" / "storage" / "s3_service.py").is_file()
    # The code is fine: the module exists in the source tree, the build just does not copy it.
    assert (source / "apps/backend-api/src/shared/storage/s3_service.py").is_file()

    done = run_in_lambda_interpreter(LAMBDA_BOOTSTRAP, bundle, lambda_runtime_dir, HANDLER)

    assert done.returncode != 0
    assert "ModuleNotFoundError: No module named 'shared.storage'" in done.stderr


# --- the variants themselves -------------------------------------------------------------------------------------


def test_every_variant_folder_is_listed() -> None:
    folders = {path.parent.name for path in INCIDENTS_DIR.glob("*/variant.yaml")}

    assert folders == set(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_spec_matches_its_overlay(variant: str, tmp_path: Path) -> None:
    spec = variant_spec(variant)
    overlay = INCIDENTS_DIR / variant / "overlay"
    copy = materialize(variant, tmp_path / variant)

    assert spec["name"] == variant
    assert spec["seed_error"]
    assert spec["verifier_should_report"]
    overlay_files = sorted(str(path.relative_to(overlay)) for path in overlay.rglob("*") if path.is_file())
    assert overlay_files == sorted(change["path"] for change in spec["changes"])
    for relative in overlay_files:
        assert (copy / relative).read_bytes() == (overlay / relative).read_bytes()
        original = EXAMPLE_DIR / relative
        assert not original.exists() or original.read_bytes() != (overlay / relative).read_bytes(), relative


def test_materialize_leaves_out_build_output(tmp_path: Path) -> None:
    copy = materialize("mock_stub", tmp_path / "copy")

    assert (copy / "build.sh").is_file()
    assert (copy / "template.yaml").is_file()
    assert not (copy / "build").exists()
    assert not list(copy.rglob("__pycache__"))


def test_materialize_rejects_unknown_variants_and_occupied_folders(tmp_path: Path) -> None:
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "keep.txt").write_text("mine")

    with pytest.raises(ValueError, match="unknown incident variant"):
        materialize("no_such_variant", tmp_path / "new")
    with pytest.raises(FileExistsError):
        materialize("mock_stub", tmp_path / "occupied")
    assert (tmp_path / "occupied" / "keep.txt").read_text() == "mine"
