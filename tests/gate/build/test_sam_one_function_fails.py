"""One function of a SAM template that does not build fails its own DV101; the template's other functions are built
and checked in the same run.

The app is two zip functions sharing a layer built by `sam build` (SharedLayer, imported by both handlers):
HealthyFunction needs nothing else, BrokenFunction's requirements.txt names a package no index has. The gate runs
through the real CLI after `deployverify init`, as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.core.errors import BuildError
from deployverify.gate.build.build import ensure_built
from deployverify.gate.build.cached import stamp_files
from deployverify.target import load_target
from tests.support.env import TEST_IMAGE, require_docker, require_tool
from tests.support.gate_run import run_gate

TOOLS = Path(__file__).resolve().parents[3] / ".ci-tools" / "bin"
MISSING = "deployverify-no-such-package-xyz==1.0"
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    Layers: [!Ref SharedLayer]
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
      CompatibleRuntimes: [python3.11]
    Metadata:
      BuildMethod: python3.11
  HealthyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: healthy/
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: broken/
"""
HANDLER = "import greeting\n\n\ndef handler(event, context):\n    return {'said': greeting.HELLO}\n"


def with_tools() -> dict[str, str]:
    return {"PATH": os.pathsep.join((str(TOOLS), str(Path(sys.executable).parent), os.environ.get("PATH", ""))),
            "SAM_CLI_TELEMETRY": "0"}


def two_function_app(root: Path) -> Path:
    """The app, and its deployverify.yaml written by `deployverify init`."""
    for folder in ("healthy", "broken", "layers/shared"):
        (root / folder).mkdir(parents=True)
    (root / "layers" / "shared" / "greeting.py").write_text("HELLO = 'hello'\n", encoding="utf-8")
    (root / "healthy" / "app.py").write_text(HANDLER, encoding="utf-8")
    (root / "broken" / "app.py").write_text(HANDLER, encoding="utf-8")
    (root / "broken" / "requirements.txt").write_text(f"{MISSING}\n", encoding="utf-8")
    (root / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "init"], cwd=root, capture_output=True,
                          text=True, check=False, env={**os.environ, **with_tools()})
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "deployverify.yaml"


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:fail", "DV101:pass", "DV211:pass")
def test_the_broken_function_fails_dv101_and_the_healthy_one_is_checked(tmp_path: Path) -> None:
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    require_docker()
    config = two_function_app(tmp_path / "app")
    cache = tmp_path / "cache"
    run = run_gate(["-c", str(config), "-k", "DV101 or DV102 or DV211", "--image", TEST_IMAGE], tmp_path / "out",
                   env={**with_tools(), "DV_CACHE_DIR": str(cache)}, timeout_s=900)
    assert run.status("BrokenFunction:DV101") == "fail", run.output[-3000:]
    message = run.message("BrokenFunction:DV101")
    assert MISSING in message, message
    assert "BrokenFunction" in message, message
    assert "HealthyFunction" not in message, message
    assert [run.status(f"BrokenFunction:{check}") for check in ("DV102", "DV211")] == ["skip", "skip"]
    assert [run.status(f"HealthyFunction:{check}") for check in ("DV101", "DV102", "DV211")] == ["pass"] * 3, \
        run.output[-3000:]
    assert run.code == 1
    built = tmp_path / "app" / ".aws-sam" / "build"
    assert sorted(p.name for p in built.iterdir() if p.is_dir()) == ["HealthyFunction", "SharedLayer"]
    # The one-function builds' scratch folders are gone; the cache holds only stamps and locks.
    assert sorted({p.suffix for p in (cache / "builds").iterdir()}) == [".json", ".lock"]

    # Fixed, the whole template builds again in one `sam build` and both functions pass.
    (tmp_path / "app" / "broken" / "requirements.txt").write_text("", encoding="utf-8")
    run = run_gate(["-c", str(config), "-k", "DV101 or DV102 or DV211", "--image", TEST_IMAGE], tmp_path / "out2",
                   env={**with_tools(), "DV_CACHE_DIR": str(cache)}, timeout_s=900)
    assert {run.status(f"{f}:{c}") for f in ("HealthyFunction", "BrokenFunction")
            for c in ("DV101", "DV102", "DV211")} == {"pass"}, run.output[-3000:]
    assert run.output.count("building the bundle") == 1, run.output


@pytest.mark.slow
def test_a_partial_build_is_reused_within_its_run_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Within one run, each function of a template gets its part of the one fallback; a later run rebuilds, since
    a build that failed is never taken as current (the broken function may build now, e.g. its index is back)."""
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    for name, value in with_tools().items():
        monkeypatch.setenv(name, value)
    application = load_target(two_function_app(tmp_path / "app"))
    healthy, broken = (application.for_function(name) for name in ("HealthyFunction", "BrokenFunction"))
    cache = tmp_path / "cache"
    assert healthy.bundle.sam is not None
    _, stamp = stamp_files(cache, healthy.bundle.output.parent)
    killed = stamp.parent / f"{stamp.stem}-alone-killed"  # what a SIGKILLed run's fallback leaves behind
    (killed / "HealthyFunction").mkdir(parents=True)
    built = ensure_built(healthy, cache, application, run_id="run-1")
    assert not killed.exists()
    assert built.how.startswith("sam build ")
    assert (built.path / "app.py").is_file()
    assert [layer.name for layer in built.layers] == ["SharedLayer"]
    assert (built.layers[0] / "python" / "greeting.py").is_file()
    said = capsys.readouterr().err
    assert said.count("building the bundle") == 1, said
    assert said.count("building each function alone") == 1, said
    with pytest.raises(BuildError) as raised:
        ensure_built(broken, cache, application, run_id="run-1")
    assert raised.value.command.endswith(" BrokenFunction")
    assert "--build-dir" not in raised.value.command  # the cache's scratch folder is no command to run
    assert raised.value.tail.splitlines()[-1] == ("Error: PythonPipBuilder:ResolveDependencies - Could not satisfy "
                                                  f"the requirement: {MISSING}")
    assert ensure_built(healthy, cache, application, run_id="run-1").how == "cached"
    assert "building" not in capsys.readouterr().err  # the run's other functions reuse its one fallback
    assert ensure_built(healthy, cache, application, run_id="run-2").how.startswith("sam build ")
