"""The deployed function's configuration against the template, and the built bundle's CodeSha256."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployverify.core.zipper import code_sha256, zip_bundle
from deployverify.deployed import configuration as deployed
from deployverify.deployed.code_identity import built_code_sha256
from deployverify.target import load_target

EXAMPLE_TARGET = Path(__file__).resolve().parents[2] / "examples" / "docworker" / "deployverify.yaml"

EXPECTED = deployed.Expected(function_name="w", runtime="python3.11", handler="app.handler", timeout_s=900,
                             memory_mb=1024, reserved_concurrency=10, environment_keys=("A", "B"))
DEPLOYED = deployed.Deployed(function_name="w", runtime="python3.11", handler="app.handler", timeout_s=900,
                             memory_mb=1024, reserved_concurrency=10, environment_keys=("A", "B"), code_sha256="x")


def test_expected_configuration_comes_from_the_sam_template() -> None:
    target = load_target(EXAMPLE_TARGET, env={})
    expected = deployed.expected_config(target, target.functions[0])

    assert expected == deployed.Expected(
        function_name="docworker-dev-worker", runtime="python3.11", handler="process_document_lambda.handler",
        timeout_s=900, memory_mb=1024, reserved_concurrency=10,
        environment_keys=("DB_SECRET_ID", "DOCUMENT_BUCKET", "LOG_LEVEL", "SERVICE_NAME", "STAGE"),
        source="template.yaml (DocumentWorkerFunction)")


@pytest.mark.parametrize(("changes", "mismatches"), [
    ({}, []),
    ({"memory_mb": 512}, [("memory (MB)", "512", "1024")]),
    ({"reserved_concurrency": None}, [("reserved concurrency", "unset", "10")]),
    ({"runtime": "python3.12", "timeout_s": 3}, [("runtime", "python3.12", "python3.11"), ("timeout (s)", "3", "900")]),
    ({"environment_keys": ("A", "C")}, [("environment keys (missing B; extra C)", "A, C", "A, B")]),
])
def test_compare_names_each_difference(changes: dict[str, object], mismatches: list[tuple[str, str, str]]) -> None:
    from dataclasses import replace

    found = deployed.compare(EXPECTED, replace(DEPLOYED, **changes))  # type: ignore[arg-type]
    assert [(m.field, m.found, m.expected) for m in found] == mismatches


def test_built_code_sha256_is_the_zips_and_follows_changes(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    (bundle / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (bundle / "pkg" / "__init__.py").write_text("")
    cache = tmp_path / "cache"

    zipped = code_sha256(zip_bundle(bundle))
    first = built_code_sha256(bundle, cache)
    again = built_code_sha256(bundle, cache)
    (bundle / "app.py").write_text("def handler(e, c):\n    return 2\n")
    os.utime(bundle / "app.py", ns=(1, 1))  # a change the listing must notice even with an old timestamp
    changed = built_code_sha256(bundle, cache)

    assert first == again == zipped
    assert changed == code_sha256(zip_bundle(bundle))
    assert changed != first


def test_gate_and_smoke_hash_the_built_code_with_one_function() -> None:
    """DV104 (before deploy) and DV603 (after) must never disagree about what "the built code" hashes to."""
    from deployverify.checks import test_build
    from deployverify.smoke import test_deployed

    assert test_build.built_code_sha256 is test_deployed.built_code_sha256 is built_code_sha256
