"""DV101's builds: the built-in aws-lambda-builders build, `sam build`, and how a failing build is reported.

The built-in build installs a wheel from a local folder (`--no-index --find-links` in the requirements file), so it
runs offline; it goes through the same pip download/categorise/install steps as a PyPI package.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from deployverify.core.errors import BuildError, BundleError
from deployverify.gate.build.build import build_command, ensure_built
from deployverify.target import load_target
from deployverify.target.model import Target
from tests.support.env import require_tool


def local_wheel(folder: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, as a build backend would write it."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    meta = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "VALUE = 42\n")
        archive.writestr(f"{meta}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{meta}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        record = "".join(f"{entry},,\n" for entry in (f"{name}/__init__.py", f"{meta}/METADATA", f"{meta}/WHEEL",
                                                      f"{meta}/RECORD"))
        archive.writestr(f"{meta}/RECORD", record)
    return wheel


def builtin_project(root: Path, requirement: str = "tinydep==1.0") -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("import tinydep\n\ndef handler(event, context):\n    return tinydep.VALUE\n",
                                         encoding="utf-8")
    wheels = root / "wheels"
    local_wheel(wheels)
    (root / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\n{requirement}\n", encoding="utf-8")
    target = root / "deployverify.yaml"
    target.write_text("name: builtin\nruntime: python3.11\nfunctions:\n  - name: worker\n    handler: app.handler\n"
                      "bundle:\n  source: src\n  requirements: requirements.txt\n  output: build/bundle\n",
                      encoding="utf-8")
    return target


def test_builtin_build_installs_requirements_and_copies_source(tmp_path: Path) -> None:
    target = load_target(builtin_project(tmp_path / "project"))
    built = ensure_built(target, tmp_path / "cache")
    assert built.how.startswith("aws-lambda-builders python_pip (python3.11, x86_64): ")
    names = sorted(p.name for p in built.path.iterdir())
    assert names == ["app.py", "tinydep", "tinydep-1.0.dist-info"]


def test_builtin_build_is_cached_until_an_input_changes(tmp_path: Path) -> None:
    config = builtin_project(tmp_path / "project")
    target = load_target(config)
    assert ensure_built(target, tmp_path / "cache").how != "cached"
    assert ensure_built(target, tmp_path / "cache").how == "cached"
    (tmp_path / "project" / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n",
                                                         encoding="utf-8")
    rebuilt = ensure_built(target, tmp_path / "cache")
    assert rebuilt.how != "cached"
    assert "tinydep" not in (rebuilt.path / "app.py").read_text(encoding="utf-8")


def test_builtin_build_failure_names_the_build_and_pips_reason(tmp_path: Path) -> None:
    target = load_target(builtin_project(tmp_path / "project", requirement="nosuchdist-dv==9.9"))
    with pytest.raises(BuildError) as raised:
        ensure_built(target, tmp_path / "cache")
    assert raised.value.command.startswith("aws-lambda-builders python_pip (python3.11, x86_64)")
    assert "nosuchdist-dv" in raised.value.tail
    assert not target.bundle.output.exists()  # no half-built bundle left for the next run to trust


def test_builtin_build_refuses_an_output_that_holds_the_source(tmp_path: Path) -> None:
    config = builtin_project(tmp_path / "project")
    config.write_text(config.read_text(encoding="utf-8").replace("output: build/bundle", "output: ."),
                      encoding="utf-8")
    with pytest.raises(BundleError, match=r"contains .* and the built-in build empties it first"):
        ensure_built(load_target(config), tmp_path / "cache")


SAM_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src/
"""


def sam_target(root: Path) -> Target:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n", encoding="utf-8")
    (root / "template.yaml").write_text(SAM_TEMPLATE, encoding="utf-8")
    config = root / "deployverify.yaml"
    config.write_text("name: sam\nruntime: python3.11\nfunctions:\n  - name: worker\n    handler: app.handler\n"
                      "bundle:\n  sam: {template: template.yaml, function: WorkerFunction}\n", encoding="utf-8")
    return load_target(config)


def test_sam_build_command_writes_the_target_output(tmp_path: Path) -> None:
    target = sam_target(tmp_path / "project")
    assert target.bundle.output == (tmp_path / "project" / ".aws-sam" / "build" / "WorkerFunction").resolve()
    assert build_command(target) == ["sam", "build", "--template-file", str(tmp_path / "project" / "template.yaml"),
                                     "--build-dir", str(target.bundle.output.parent), "WorkerFunction"]


def test_missing_sam_cli_is_a_clear_build_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = sam_target(tmp_path / "project")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BuildError) as raised:
        ensure_built(target, tmp_path / "cache")
    assert str(raised.value).startswith("`sam` is not installed (needed for `sam build --template-file ")
    assert "pip install aws-sam-cli" in str(raised.value)
    assert raised.value.code == 127


@pytest.mark.slow
def test_sam_build_for_real(tmp_path: Path) -> None:
    require_tool("sam", "the AWS SAM CLI (pip install aws-sam-cli)")
    target = sam_target(tmp_path / "project")
    built = ensure_built(target, tmp_path / "cache")
    assert built.how.startswith("sam build ")
    assert (built.path / "app.py").is_file()
    assert ensure_built(target, tmp_path / "cache").how == "cached"


def test_a_command_build_failure_keeps_command_code_and_stderr(tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[3] / "fixtures" / "bad-bundles" / "failing_build" / "deployverify.yaml"
    target = load_target(config)
    with pytest.raises(BuildError) as raised:
        ensure_built(target, tmp_path / "cache")
    assert raised.value.code == 3
    assert raised.value.command.startswith("bash -c 'echo \"collecting requirements\"")
    assert raised.value.tail == "ERROR: No matching distribution found for pymupdf==9.9.9"
    assert str(raised.value).splitlines()[0].endswith("exited 3: ERROR: No matching distribution found for "
                                                      "pymupdf==9.9.9")


def test_command_build_is_cached_and_reports_are_not_inputs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("def handler(event, context):\n    return 1\n", encoding="utf-8")
    config = project / "deployverify.yaml"
    config.write_text("name: command\nruntime: python3.11\nfunctions:\n  - name: worker\n    handler: app.handler\n"
                      "bundle:\n  command: mkdir -p build/bundle && cp app.py build/bundle/\n  output: build/bundle\n",
                      encoding="utf-8")
    target = load_target(config)
    assert ensure_built(target, tmp_path / "cache").how.startswith("bash -c ")
    report = project / "reports" / "out" / "dv-run-1" / "report.json"  # what a run writes by default
    report.parent.mkdir(parents=True)
    report.write_text("{}", encoding="utf-8")
    assert ensure_built(target, tmp_path / "cache").how == "cached"
    (project / "app.py").write_text("def handler(event, context):\n    return 2\n", encoding="utf-8")
    assert ensure_built(target, tmp_path / "cache").how != "cached"
    assert "return 2" in (project / "build" / "bundle" / "app.py").read_text(encoding="utf-8")


def test_a_build_that_writes_no_bundle_says_where_it_looked(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = project / "deployverify.yaml"
    config.write_text("name: nowhere\nruntime: python3.11\nfunctions:\n  - name: worker\n    handler: app.handler\n"
                      "bundle:\n  command: mkdir -p dist\n  output: build/bundle\n", encoding="utf-8")
    with pytest.raises(BuildError) as raised:
        ensure_built(load_target(config), tmp_path / "cache")
    assert raised.value.tail == (f"no bundle at {project / 'build' / 'bundle'}; point bundle.output at the folder "
                                 "the build writes")
