"""Layers given by ARN in the target file: kept in their declared place, rebuilt when known, one DV101 line when not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.target import load_target
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


@pytest.mark.dv_outcomes("DV101:fail")
def test_an_unknown_layer_without_aws_fails_dv101_naming_the_arn(tmp_path: Path) -> None:
    path = _target(tmp_path, ["shared", PRIVATE])
    run = run_gate(["-c", str(path), "-k", "DV101"], tmp_path / "out",
                   env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "DV_CACHE_DIR": str(tmp_path / "c")})
    assert run.status("DV101") == "fail"
    assert PRIVATE in run.message("DV101")
    assert "declare its content instead" in run.message("DV101")
