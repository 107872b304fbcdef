"""DV002 against a real moto server on loopback: it passes with credentials and names the cause without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto import moto_server

TARGET = """\
name: access
runtime: python3.11
region: us-east-1
bundle: {output: bundle}
functions: [{name: f, handler: app.handler}]
"""


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def run_dv002(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    (tmp_path / "bundle").mkdir(exist_ok=True)
    (tmp_path / "deployverify.yaml").write_text(TARGET)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run([sys.executable, "-m", "deployverify.cli", "smoke", "-c", str(tmp_path / "deployverify.yaml"),
                    "-k", "DV002", "--report-dir", str(tmp_path / "out")],
                   env={**clean, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                        "AWS_EC2_METADATA_DISABLED": "true", **env},
                   capture_output=True, text=True, timeout=300, check=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return next(c for c in report["checks"] if c["id"] == "DV002")


@pytest.mark.dv_outcomes("DV002:pass")
def test_passes_with_credentials(tmp_path: Path, moto_endpoint: str) -> None:
    result = run_dv002(tmp_path, {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                                  "AWS_SECRET_ACCESS_KEY": "testing"})
    assert result["status"] == "pass", result
    assert "answers as account 123456789012" in result["evidence"][0]


@pytest.mark.dv_outcomes("DV002:fail")
def test_names_missing_credentials(tmp_path: Path, moto_endpoint: str) -> None:
    result = run_dv002(tmp_path, {"AWS_ENDPOINT_URL": moto_endpoint})
    assert result["status"] == "fail"
    expected = f"AWS at {moto_endpoint} (us-east-1) refused `sts:GetCallerIdentity`: NoCredentialsError"
    assert expected in result["message"]
