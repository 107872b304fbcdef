"""Cross-builds (gate/build/cross.py): a function whose runtime or architecture this 3.11 x86_64 host cannot run is
built by pip told the platform, and the native checks judge what it installed. Through the real CLI; pip downloads
from PyPI."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.gate.build.cross import platform_tags
from deployverify.gate.probe.selection import host_architecture
from tests.support.env import TEST_IMAGE, require_docker
from tests.support.gate_run import GateRun, run_gate

APP = "from markupsafe import escape\n\n\ndef handler(event, context):\n    return str(escape(event['text']))\n"
NATIVE = "DV101 or DV20"


def builtin_target(root: Path, runtime: str, architecture: str = "x86_64", requirement: str = "markupsafe==3.0.2",
                   output: str = "build/bundle", bundle_extra: str = "") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "app.py").write_text(APP, encoding="utf-8")
    (root / "requirements.txt").write_text(f"{requirement}\n", encoding="utf-8")
    target = root / f"{runtime}-{architecture}.yaml"
    target.write_text(f"name: cross\nruntime: {runtime}\narchitecture: {architecture}\nfunctions:\n"
                      "  - name: worker\n    handler: app.handler\n"
                      f"bundle:\n  source: src\n  requirements: requirements.txt\n  output: {output}\n{bundle_extra}",
                      encoding="utf-8")
    return target


def prebuilt_target(root: Path, bundle: Path, runtime: str, architecture: str) -> Path:
    target = root / "prebuilt.yaml"
    target.write_text(f"name: prebuilt\nruntime: {runtime}\narchitecture: {architecture}\nfunctions:\n"
                      f"  - name: worker\n    handler: app.handler\nbundle:\n  output: {bundle}\n", encoding="utf-8")
    return target


def gate(target: Path, report_dir: Path) -> GateRun:
    return run_gate(["-c", str(target), "-k", NATIVE], report_dir, timeout_s=900)


def wheel_tags(bundle: Path, dist: str) -> list[str]:
    (info,) = (p for p in bundle.glob("*.dist-info") if p.name.lower().startswith(f"{dist}-"))
    return [line.split(":", 1)[1].strip() for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")]


def test_platform_tags_reach_the_runtimes_glibc_and_no_further() -> None:
    assert platform_tags("python3.11", "arm64")[0] == "manylinux2014_aarch64"
    assert platform_tags("python3.11", "x86_64")[-1] == "manylinux_2_18_x86_64"
    assert platform_tags("python3.11", "x86_64")[1] == "manylinux_2_26_x86_64"  # Amazon Linux 2
    assert platform_tags("python3.13", "x86_64")[1] == "manylinux_2_34_x86_64"  # Amazon Linux 2023


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:pass", "DV203:pass", "DV205:pass")
@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_a_runtime_the_host_lacks_is_cross_built_with_its_cpythons_wheels(tmp_path: Path, runtime: str) -> None:
    target = builtin_target(tmp_path / "project", runtime)
    run = gate(target, tmp_path / "out")
    assert [run.status(check) for check in ("DV101", "DV201", "DV202", "DV203", "DV204", "DV205")] == ["pass"] * 6, \
        run.output[-3000:]
    bundle = tmp_path / "project" / "build" / "bundle"
    cp = "cp" + runtime.removeprefix("python").replace(".", "")
    tags = wheel_tags(bundle, "markupsafe")
    assert tags
    assert all(tag.startswith(f"{cp}-{cp}-manylinux") for tag in tags), tags
    assert all(tag.endswith("_x86_64") for tag in tags), tags
    assert list(bundle.glob(f"markupsafe/_speedups.cpython-{cp[2:]}-x86_64-linux-gnu.so"))
    assert (bundle / "app.py").read_text() == APP


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV201:pass", "DV201:fail")
def test_an_arm64_function_gets_aarch64_wheels_and_the_native_checks_judge_aarch64(tmp_path: Path) -> None:
    target = builtin_target(tmp_path / "project", "python3.12", "arm64")
    run = gate(target, tmp_path / "out")
    assert run.status("DV101") == "pass", run.output[-3000:]
    assert run.status("DV201") == "pass", run.output[-3000:]
    bundle = tmp_path / "project" / "build" / "bundle"
    assert all(tag.endswith("_aarch64") for tag in wheel_tags(bundle, "markupsafe"))
    (extension,) = bundle.glob("markupsafe/_speedups.cpython-312-aarch64-linux-gnu.so")
    assert extension.read_bytes()[18:20] == (183).to_bytes(2, "little")  # e_machine EM_AARCH64

    # The same aarch64 bundle declared for an x86_64 function is the mistake DV201 exists for.
    wrong = prebuilt_target(tmp_path / "project", bundle, "python3.12", "x86_64")
    run = gate(wrong, tmp_path / "out-wrong")
    assert run.status("DV201") == "fail"
    assert "arm64 (aarch64)" in run.message("DV201")
    assert "x86_64" in run.message("DV201")


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:fail")
def test_a_dependency_without_a_wheel_for_the_platform_is_named(tmp_path: Path) -> None:
    # docopt is published as an sdist only: a cross-build must not compile it for this host.
    target = builtin_target(tmp_path / "project", "python3.13", requirement="docopt==0.6.2")
    run = gate(target, tmp_path / "out")
    assert run.status("DV101") == "fail"
    assert "`docopt==0.6.2` has no wheel for manylinux2014_x86_64, CPython 3.13" in run.message("DV101")
    assert run.status("DV201") == "skip"


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV230:fail", "DV230:pass", "DV222:pass")
def test_an_architecture_the_host_cannot_run_says_which_checks_ran_statically(tmp_path: Path) -> None:
    require_docker()
    if host_architecture() == "arm64":
        pytest.skip("this host runs arm64 itself")
    keyword = ["--image", TEST_IMAGE, "-k", "DV201 or DV211 or DV222 or DV230"]
    target = builtin_target(tmp_path / "project", "python3.11", "arm64")
    run = run_gate(["-c", str(target), *keyword], tmp_path / "out", env={"CI": "true"}, timeout_s=900)
    assert run.status("DV230") == "fail", run.output[-3000:]
    message = run.message("DV230")
    assert "this x86_64 host cannot run the arm64 image" in message
    assert "DV201, DV202, DV203, DV204, DV205, DV222, DV3xx ran statically" in message
    assert "DV211, DV212, DV220, DV221 could not run" in message
    assert "bundle.static_only: [arm64]" in message
    assert (run.status("DV201"), run.status("DV222"), run.status("DV211")) == ("pass", "pass", "skip")
    assert run.message("DV211").startswith("blocked by DV230")

    opted_in = builtin_target(tmp_path / "project", "python3.11", "arm64", bundle_extra="  static_only: [arm64]\n")
    run = run_gate(["-c", str(opted_in), *keyword], tmp_path / "out-static", env={"CI": "true"}, timeout_s=900)
    assert run.status("DV230") == "pass", run.output[-3000:]
    (warning,) = run.findings("DV230", "warning")
    assert warning["message"].startswith("static checks only for arm64 (bundle.static_only): this x86_64 host")
