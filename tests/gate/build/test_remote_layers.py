"""Layers given by ARN in the target file: kept in their declared place, rebuilt when known, a DV101 warning when
not (the checks then run without the layer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.gate.build.remote_layers import concrete_arn
from deployverify.target import load_target
from tests.support.env import TEST_IMAGE, require_docker
from tests.support.gate_run import run_gate

PRIVATE = "arn:aws:lambda:us-east-1:123456789012:layer:private-helpers:3"


def _target(folder: Path, layers: list[str]) -> Path:
    bundle = folder / "bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n", encoding="utf-8")
    (folder / "shared" / "python").mkdir(parents=True, exist_ok=True)
    listed = "".join(f"    - {layer!r}\n" for layer in layers)
    path = folder / "deployverify.yaml"
    path.write_text(f"name: arn-layers\nruntime: python3.11\nfunctions:\n  - name: f\n    handler: app.handler\n"
                    f"bundle:\n  output: bundle\n  layers:\n{listed}", encoding="utf-8")
    return path


def test_the_loader_keeps_each_arn_in_its_declared_place(tmp_path: Path) -> None:
    target = load_target(_target(tmp_path, ["shared", PRIVATE]))
    assert target.bundle.layers == ((tmp_path / "shared"),)
    assert target.bundle.remote_layers == ((1, PRIVATE),)


def test_a_malformed_arn_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _target(tmp_path, ["arn:aws:lambda:us-east-1:123:function:not-a-layer"])
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "-c", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "bundle.layers[0]" in done.stderr
    assert "is not a layer version ARN" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.dv_outcomes("DV101:pass", "DV211:pass", "DV211:fail")
@pytest.mark.parametrize("imports_from_layer", [False, True])
def test_an_unknown_layer_without_aws_is_a_warning_and_the_checks_run_without_it(tmp_path: Path,
                                                                                  imports_from_layer: bool) -> None:
    """An extension or the Lambda Web Adapter ships no Python: the gate warns that it could not get the layer and
    checks the function without it. A handler that needed a module only the layer provides fails its import."""
    require_docker()
    path = _target(tmp_path, ["shared", PRIVATE])
    if imports_from_layer:
        (tmp_path / "bundle" / "app.py").write_text("import private_helpers\n\n\ndef handler(event, context):\n"
                                                    "    return private_helpers.run(event)\n", encoding="utf-8")
    run = run_gate(["-c", str(path), "-k", "DV101 or DV211", "--image", TEST_IMAGE], tmp_path / "out",
                   env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "DV_CACHE_DIR": str(tmp_path / "c")})
    assert run.status("DV101") == "pass", run.message("DV101")
    (warning,) = run.findings("DV101", "warning")
    assert warning["message"].startswith(f"layer `{PRIVATE}` is not available to the gate: ")
    assert "the checks ran without it" in warning["message"]
    if imports_from_layer:
        assert run.status("DV211") == "fail"
        assert "private_helpers" in run.message("DV211")
    else:
        assert run.status("DV211") == "pass", run.message("DV211")


def test_the_templates_region_is_filled_in_from_the_target(tmp_path: Path) -> None:
    path = _target(tmp_path, ["shared"])
    path.write_text(path.read_text(encoding="utf-8") + "region: eu-west-1\n", encoding="utf-8")
    target = load_target(path)
    arn = ("arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:"
           "AWSLambdaPowertoolsPythonV3-python311-x86_64:7")
    assert concrete_arn(arn, target) == \
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7"
