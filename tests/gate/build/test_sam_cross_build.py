"""`bundle.sam` python_pip functions whose runtime this host has no interpreter of (python3.13 here) are cross-built
by the gate up front, without a `sam build` bound to fail (gate/build/sam_cross.py), with the layers sam builds for
them, and reused by the next run; the template's other functions (a runtime the host has, a Makefile build) are built
by one `sam build` of just those. The real SAM CLI, the real CLI after `deployverify init`, and pip downloading from
PyPI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.gate.build.build import ensure_built
from deployverify.gate.build.cross import MissingWheel, host_interpreter
from deployverify.target import load_target
from tests.support.env import TEST_IMAGE, require_docker, require_tool
from tests.support.gate_run import GateRun, run_gate

REPO = Path(__file__).resolve().parents[3]
APPS = REPO / "fixtures" / "sam-apps"
TOOLS = REPO / ".ci-tools" / "bin"
PATH = os.pathsep.join((str(TOOLS), str(Path(sys.executable).parent), os.environ.get("PATH", "")))
CROSS_BUILT = "`sam build` cannot build it here: this host has no python3.13 interpreter on PATH; cross-built"


def app_after_init(app: str, root: Path, copy: bool = True) -> Path:
    """The corpus app copied to `root` (unless already there) and its deployverify.yaml written by `deployverify
    init`, as a user runs it."""
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    if host_interpreter("python3.13") is not None:
        pytest.skip("this host has a python3.13 interpreter: `sam build` builds these apps itself")
    folder = root / app
    if copy:
        shutil.copytree(APPS / app, folder, ignore=shutil.ignore_patterns("expected.yaml"))
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "init"], cwd=folder, env={**os.environ,
                          "PATH": PATH}, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def gate(folder: Path, keyword: str, *image: str, out: str = "out") -> GateRun:
    return run_gate(["-c", str(folder / "deployverify.yaml"), "-k", keyword, *image], folder / out,
                    env={"PATH": PATH, "CI": "true", "DV_CACHE_DIR": str(folder.parent / "cache")}, timeout_s=900)


def wheel_tags(site: Path, dist: str) -> list[str]:
    (info,) = (p for p in site.glob("*.dist-info") if p.name.lower().startswith(f"{dist}-"))
    return [line.split(":", 1)[1].strip() for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")]


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:pass", "DV102:pass", "DV201:pass", "DV203:pass", "DV222:pass", "DV230:fail")
def test_a_layer_sam_builds_is_cross_built_with_its_function(tmp_path: Path) -> None:
    """The handler imports its helper and markupsafe from DepsLayer (BuildMethod python3.13): both are cross-built
    into the folders the target names, and the import check resolves the handler's imports against the layer."""
    require_docker()
    folder = app_after_init("runtime-313-layer", tmp_path)
    run = gate(folder, "DV101 or DV102 or DV20 or DV211 or DV222 or DV230", "--image", TEST_IMAGE)
    statuses = [run.status(check) for check in ("DV101", "DV102", "DV201", "DV202", "DV203", "DV204", "DV205",
                                                 "DV222")]
    assert statuses == ["pass"] * 8, run.output[-3000:]
    assert CROSS_BUILT + " with its layers DepsLayer instead: pip install --platform manylinux2014_x86_64" \
        in run.evidence("DV101")
    (warning,) = run.findings("DV101", "warning")
    assert warning["message"].startswith("the bundle was cross-built by pip (--platform manylinux2014_x86_64 ")
    assert "not by `sam build`, which needs a python3.13 interpreter this host lacks" in warning["message"]
    # A layer's content goes under python/, as sam puts it (Lambda adds /opt/python to sys.path).
    layer = folder / ".aws-sam" / "build" / "DepsLayer" / "python"
    assert (layer / "render_helpers.py").is_file()
    assert all(tag.startswith("cp313-cp313-manylinux") for tag in wheel_tags(layer, "markupsafe"))
    assert list(layer.glob("markupsafe/_speedups.cpython-313-x86_64-linux-gnu.so"))
    assert (folder / ".aws-sam" / "build" / "RenderFunction" / "app.py").is_file()
    assert not (folder / ".aws-sam" / "build" / "RenderFunction" / "render_helpers.py").exists()
    # The 3.11 image cannot import a 3.13 bundle: DV230 says so and the import probe is blocked, as designed.
    assert run.status("DV230") == "fail"
    assert "cannot run the function's runtime python3.13" in run.message("DV230")
    assert run.status("DV211") == "skip"
    assert run.message("DV211").startswith("blocked by DV230")


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:pass", "DV102:pass")
def test_a_function_its_makefile_builds_is_built_by_sam_beside_the_cross_built_one(tmp_path: Path) -> None:
    """RenderFunction (python_pip, python3.13) is cross-built without running sam for it; the Makefile-built
    ReportFunction needs no python3.13, so one `sam build` of it alone builds it, before the cross-build."""
    folder = app_after_init("runtime-313-makefile", tmp_path)
    run = gate(folder, "DV101 or DV102")
    assert {run.status(f"{f}:{c}") for f in ("RenderFunction", "ReportFunction") for c in ("DV101", "DV102")} \
        == {"pass"}, run.output[-3000:]
    assert CROSS_BUILT in run.evidence("RenderFunction:DV101")
    assert run.findings("RenderFunction:DV101", "warning")
    assert "cross-built" not in run.evidence("ReportFunction:DV101")
    assert not run.findings("ReportFunction:DV101", "warning")
    (sam_line,) = [line for line in run.output.splitlines() if "building the bundle" in line]
    assert sam_line.endswith(" ReportFunction` (its inputs changed since the last build)"), sam_line
    assert run.output.count("cross-building") == 1, run.output
    assert "building each function alone" not in run.output
    assert (folder / ".aws-sam" / "build" / "ReportFunction" / "report.py").is_file()
    assert (folder / ".aws-sam" / "build" / "RenderFunction" / "markupsafe").is_dir()


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:pass")
def test_a_second_run_reuses_the_cross_build_and_runs_no_sam_build(tmp_path: Path) -> None:
    folder = app_after_init("runtime-313", tmp_path)
    first = gate(folder, "DV101")
    assert first.status("DV101") == "pass", first.output[-3000:]
    assert first.output.count("cross-building") == 1, first.output
    assert "building the bundle" not in first.output  # no `sam build` bound to fail first
    second = gate(folder, "DV101", out="out2")
    assert second.status("DV101") == "pass", second.output[-3000:]
    assert "cross-building" not in second.output
    assert "building the bundle" not in second.output
    assert f"bundle: {folder / '.aws-sam' / 'build' / 'RenderFunction'} (cached, " in second.evidence("DV101")
    # Reused, it is still what pip built, not sam: the evidence and the warning say so on every run.
    assert CROSS_BUILT in second.evidence("DV101")
    assert second.findings("DV101", "warning")

    # Changed code is cross-built again.
    (folder / "src" / "app.py").write_text((folder / "src" / "app.py").read_text() + "\n# changed\n")
    third = gate(folder, "DV101", out="out3")
    assert third.status("DV101") == "pass", third.output[-3000:]
    assert third.output.count("cross-building") == 1, third.output


MAKEFILE_LAYER = """
  ToolsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: tools/
    Metadata:
      BuildMethod: makefile
"""


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:fail")
def test_a_makefile_layer_leaves_the_function_to_sam_and_its_failure_says_why(tmp_path: Path) -> None:
    """A python_pip function whose layer a Makefile builds cannot be cross-built whole: sam builds it, fails for
    want of python3.13, and DV101 says the gate cannot cross-build the layer's build."""
    folder = tmp_path / "makefile-layer"
    shutil.copytree(APPS / "runtime-313", folder, ignore=shutil.ignore_patterns("expected.yaml"))
    (folder / "tools").mkdir()
    (folder / "tools" / "tools.py").write_text("TOOLS = True\n", encoding="utf-8")
    (folder / "tools" / "Makefile").write_text("build-ToolsLayer:\n\tmkdir -p \"$(ARTIFACTS_DIR)/python\"\n"
                                               "\tcp tools.py \"$(ARTIFACTS_DIR)/python/\"\n", encoding="utf-8")
    template = folder / "template.yaml"
    text = template.read_text(encoding="utf-8").replace("      CodeUri: src/\n",
                                                        "      CodeUri: src/\n      Layers: [!Ref ToolsLayer]\n")
    template.write_text(text + MAKEFILE_LAYER, encoding="utf-8")
    folder = app_after_init("makefile-layer", tmp_path, copy=False)
    run = gate(folder, "DV101")
    assert run.status("DV101") == "fail", run.output[-3000:]
    assert run.message("DV101").endswith(
        "`sam build` needs a python3.13 interpreter on PATH and this host has none, and RenderFunction's layer "
        "ToolsLayer is built by BuildMethod makefile, which the gate does not cross-build (only python_pip builds): "
        "install python3.13, or build it with `bundle.command`")
    assert "cross-building" not in run.output
    assert run.code == 1


@pytest.mark.slow
def test_a_dependency_without_a_wheel_still_fails_the_cross_built_sam_function(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = app_after_init("runtime-313", tmp_path)
    monkeypatch.setenv("PATH", PATH)
    target = load_target(folder / "deployverify.yaml", env={})
    built = ensure_built(target, tmp_path / "cache")
    assert built.cross_built is not None
    assert built.cross_built.missing_interpreter == "python3.13"
    assert (built.path / "app.py").is_file()
    assert (built.path / "markupsafe").is_dir()
    assert built.path == folder / ".aws-sam" / "build" / "RenderFunction"  # where bundle.output says

    # docopt is published as an sdist only: sam would compile it, a cross-build must not.
    (folder / "src" / "requirements.txt").write_text("docopt==0.6.2\n", encoding="utf-8")
    with pytest.raises(MissingWheel) as raised:
        ensure_built(load_target(folder / "deployverify.yaml", env={}), tmp_path / "cache")
    assert "`docopt==0.6.2` has no wheel for manylinux2014_x86_64, CPython 3.13" in str(raised.value)


LEGACY = """
  LegacyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: legacy/
"""


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:pass")
def test_a_function_on_a_runtime_the_host_has_is_still_built_by_sam(tmp_path: Path) -> None:
    """A python3.11 function beside a python3.13 one: one `sam build` of the python3.11 one alone (no warning), and
    the python3.13 one cross-built in the same run, with no `sam build` that fails first."""
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    folder = tmp_path / "mixed"
    shutil.copytree(APPS / "runtime-313", folder, ignore=shutil.ignore_patterns("expected.yaml"))
    shutil.copytree(folder / "src", folder / "legacy")
    template = folder / "template.yaml"
    template.write_text(template.read_text(encoding="utf-8") + LEGACY, encoding="utf-8")
    folder = app_after_init("mixed", tmp_path, copy=False)
    run = gate(folder, "DV101")
    assert (run.status("LegacyFunction:DV101"), run.status("RenderFunction:DV101")) == ("pass", "pass"), \
        run.output[-3000:]
    assert not run.findings("LegacyFunction:DV101", "warning")
    assert "cross-built" not in run.evidence("LegacyFunction:DV101")
    assert list((folder / ".aws-sam" / "build" / "LegacyFunction").glob("markupsafe/_speedups.cpython-311-*.so"))
    assert CROSS_BUILT in run.evidence("RenderFunction:DV101")
    assert run.findings("RenderFunction:DV101", "warning")
    assert list((folder / ".aws-sam" / "build" / "RenderFunction").glob("markupsafe/_speedups.cpython-313-*.so"))
    (sam_line,) = [line for line in run.output.splitlines() if "building the bundle" in line]
    assert sam_line.endswith(" LegacyFunction` (its inputs changed since the last build)"), sam_line
    assert run.output.count("cross-building") == 1, run.output
    assert "building each function alone" not in run.output
