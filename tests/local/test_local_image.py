"""`deployverify local up --image` with an image that lacks the function's interpreter: one line naming the image,
the runtime and the missing interpreter, exit 2, before anything is built, started or created."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployverify.cli import main
from deployverify.core.errors import DeployVerifyError
from deployverify.local.function_workers import runtime_mode
from tests.support.env import TEST_IMAGE, require_docker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "docworker"


def test_the_local_stack_refuses_an_image_for_another_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    require_docker()
    example = tmp_path / "examples" / "docworker"  # beside a ../../fixtures link, as the target file expects
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", ".aws-sam", "__pycache__"))
    (tmp_path / "fixtures").symlink_to(EXAMPLE.parents[1] / "fixtures")
    template = example / "template.yaml"
    template.write_text(template.read_text().replace("Runtime: python3.11", "Runtime: python3.12"))
    monkeypatch.setenv("DV_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["local", "up", "-c", str(example / "deployverify.yaml"), "--image", TEST_IMAGE]) == 2
    err = capsys.readouterr().err
    assert f"image `{TEST_IMAGE}` cannot run the function's runtime python3.12: it has no /var/lang/bin/python3.12" \
        in err
    assert "Traceback" not in err
    assert "building the bundle" not in err  # refused before anything was built or started
    assert "starting moto" not in err
    assert main(["local", "status"]) == 1  # no stack was left up


def test_an_image_with_the_functions_interpreter_runs_it() -> None:
    require_docker()
    assert runtime_mode(TEST_IMAGE, True, ["python3.11"]) == ("docker", f"image {TEST_IMAGE}")
    with pytest.raises(DeployVerifyError, match=r"runtime python3\.13: it has no /var/lang/bin/python3\.13"):
        runtime_mode(TEST_IMAGE, False, ["python3.11", "python3.13"])
