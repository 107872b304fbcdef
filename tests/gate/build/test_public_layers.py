"""Public layers (gate/build/public_layers.py): a Powertools layer ARN in any published naming scheme becomes the PyPI
package it holds, installed for the layer's platform into a cached layer folder; any other ARN is one clear result.
The install downloads from PyPI; the gate then judges the layer through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployverify.gate.build.public_layers import LayerUnavailable, known_public_layer, resolve_remote_layer
from tests.support.gate_run import run_gate

REGION = "${AWS::Region}"  # what a template's !Sub leaves before deploy


@pytest.mark.parametrize(("arn", "major", "architecture", "python", "requirement"), [
    (f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPython:51", 1, "x86_64", None,
     "aws-lambda-powertools[pydantic]>=1,<2"),
    ("arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV2:69", 2, "x86_64", None,
     "aws-lambda-powertools[all]>=2,<3"),
    ("arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV2-Arm64:69", 2, "arm64", None,
     "aws-lambda-powertools[all]>=2,<3"),
    (f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:3", 3, "x86_64",
     "3.12", "aws-lambda-powertools[all]==3.2.0"),
    ("arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27", 3, "arm64",
     "3.13", "aws-lambda-powertools[all]>=3,<4"),
    ("arn:aws-cn:lambda:cn-north-1:498634801083:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:5", 3,
     "x86_64", "3.11", "aws-lambda-powertools[all]==3.4.0"),
])
def test_every_powertools_naming_scheme_maps_to_its_package(arn: str, major: int, architecture: str,
                                                            python: str | None, requirement: str) -> None:
    layer = known_public_layer(arn)
    assert layer is not None
    assert (layer.major, layer.architecture, layer.python, layer.requirement) == (major, architecture, python,
                                                                                  requirement)


@pytest.mark.parametrize("arn", [
    "arn:aws:lambda:us-east-1:123456789012:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:3",  # not AWS's account
    "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsTypeScriptV2:38",  # not Python
    "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:53",
])
def test_any_other_layer_is_one_result_naming_the_arn_and_how_to_declare_it(arn: str, tmp_path: Path) -> None:
    assert known_public_layer(arn) is None
    unavailable = resolve_remote_layer(arn, "python3.12", "x86_64", tmp_path)
    assert isinstance(unavailable, LayerUnavailable)
    message = unavailable.message()
    assert message.startswith(f"layer `{arn}` is not available to the gate: ")
    assert "a folder whose python/ holds what the layer ships" in message
    assert not (tmp_path / "layers").exists()


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV201:pass", "DV201:fail")
def test_a_powertools_layer_is_installed_for_its_platform_cached_and_judged_by_the_gate(tmp_path: Path) -> None:
    arn = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:5"
    cache = tmp_path / "cache"
    folder = resolve_remote_layer(arn, "python3.12", "arm64", cache)
    assert isinstance(folder, Path), folder
    assert folder.parent == cache / "layers"
    site = folder / "python"
    (dist,) = site.glob("aws_lambda_powertools-*.dist-info")
    assert dist.name == "aws_lambda_powertools-3.4.0.dist-info"
    assert list(site.glob("pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so"))
    assert json.loads((folder / "deployverify-layer.json").read_text())["requirement"] == \
        "aws-lambda-powertools[all]==3.4.0"
    stamp = (site / dist.name / "RECORD").stat().st_mtime_ns
    assert resolve_remote_layer(arn, "python3.12", "arm64", cache) == folder  # cached: not installed again
    assert (site / dist.name / "RECORD").stat().st_mtime_ns == stamp

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "app.py").write_text("from aws_lambda_powertools import Logger\n\nlogger = Logger()\n\n\n"
                                   "def handler(event, context):\n    return 1\n", encoding="utf-8")
    for architecture, verdict in (("arm64", "pass"), ("x86_64", "fail")):
        target = tmp_path / f"{architecture}.yaml"
        target.write_text(f"name: layered\nruntime: python3.12\narchitecture: {architecture}\nfunctions:\n"
                          f"  - name: worker\n    handler: app.handler\nbundle:\n  output: {bundle}\n"
                          f"  layers: [{folder}]\n", encoding="utf-8")
        run = run_gate(["-c", str(target), "-k", "DV201 or DV203"], tmp_path / f"out-{architecture}")
        assert run.status("DV201") == verdict, run.output[-3000:]
        assert run.status("DV203") == "pass"
    assert "is built for arm64 (aarch64); the function runs on x86_64" in run.message("DV201")
