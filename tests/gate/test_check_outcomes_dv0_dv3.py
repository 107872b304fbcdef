"""A failing case and a passing case for the checks that had none: DV001, DV102, DV212, DV306.

Each runs the real CLI (`deployverify gate --bundle ... -k DVnnn`) on a bundle written here, and reads report.json.
DV212 and DV306 also warn without failing (over the target's init budget; a TODO by default): those cases assert
the warning. They fail past Lambda's 10 s init limit and under the target's `scan.fail_on_todo`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import TEST_IMAGE, require_docker
from tests.support.gate_run import GateRun, run_gate


def write_bundle(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


HANDLER_APP = "def handler(event, context):\n    return 1\n"


def gate(bundle: Path, tmp_path: Path, selected: str, *extra: str, ci: str = "", handler: str = "app.handler",
         env: dict[str, str] | None = None) -> GateRun:
    return run_gate(["--bundle", str(bundle), "--handler", handler, "--runtime", "python3.11", "-k", selected,
                     *extra], tmp_path / "report",
                    env={"DV_CACHE_DIR": str(tmp_path / "cache"), "CI": ci, **(env or {})})


# -- DV001: everything the checks need is available ------------------------------------------------------------------

@pytest.mark.dv_outcomes("DV001:fail")
def test_dv001_fails_in_ci_without_a_probe_sandbox(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"app.py": HANDLER_APP})
    run = gate(bundle, tmp_path, "DV001", "--image", "deployverify/no-such-image:0", "--require-image", ci="true")
    assert run.status("DV001") == "fail"
    assert "a sandbox for the import probe is not available" in run.message("DV001")
    assert "CI=true: a missing prerequisite is a failure" in run.message("DV001")
    assert run.code == 1


def test_dv001_skips_on_a_laptop_without_a_probe_sandbox(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"app.py": HANDLER_APP})
    run = gate(bundle, tmp_path, "DV001", "--image", "deployverify/no-such-image:0", "--require-image", ci="")
    assert run.status("DV001") == "skip"
    assert "a sandbox for the import probe is not available" in run.message("DV001")


@pytest.mark.dv_outcomes("DV001:pass")
def test_dv001_passes_with_a_sandbox(tmp_path: Path) -> None:
    require_docker()
    bundle = write_bundle(tmp_path / "bundle", {"app.py": HANDLER_APP})
    run = gate(bundle, tmp_path, "DV001", "--image", TEST_IMAGE, ci="true")
    assert run.status("DV001") == "pass", run.checks["DV001"]
    assert "probe sandbox:" in run.evidence("DV001")


# -- DV102: the handler's file is in the bundle -----------------------------------------------------------------------

@pytest.mark.dv_outcomes("DV102:fail")
def test_dv102_fails_when_the_handler_file_is_not_at_the_bundle_root(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"src/app.py": HANDLER_APP})
    run = gate(bundle, tmp_path, "DV102")
    assert run.status("DV102") == "fail"
    assert run.message("DV102") == ("handler `app.handler` needs `app.py` but the bundle has no such file (found "
                                    "src/app.py: the handler path must be relative to the bundle root); fix the "
                                    "build or the handler")
    assert run.code == 1


def test_dv102_passes_when_the_handler_file_is_in_the_bundle(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"src/app.py": HANDLER_APP})
    run = gate(bundle, tmp_path, "DV102", handler="src/app.handler")
    assert run.status("DV102") == "pass", run.checks["DV102"]


# -- DV212: cold-start init fits its budget (a warning, never a failure) ----------------------------------------------

def _budget_target(tmp_path: Path, bundle: Path, budget_ms: int) -> Path:
    config = tmp_path / "gate.yaml"
    config.write_text(f"name: budget\nruntime: python3.11\nbundle: {{output: {bundle}}}\n"
                      f"functions:\n  - {{name: f, handler: app.handler, init_budget_ms: {budget_ms}}}\n")
    return config


def test_dv212_warns_when_init_exceeds_the_budget(tmp_path: Path) -> None:
    """Over the target's budget only is a warning: the sandbox's timing is indicative."""
    require_docker()
    bundle = write_bundle(tmp_path / "bundle", {"app.py": "import time\ntime.sleep(0.3)\n\n\n" + HANDLER_APP})
    run = run_gate(["-c", str(_budget_target(tmp_path, bundle, 100)), "--image", TEST_IMAGE, "-k", "DV212"],
                   tmp_path / "report", env={"DV_CACHE_DIR": str(tmp_path / "cache")})
    assert run.status("DV212") == "pass"
    [warning] = run.findings("DV212", "warning")
    assert "(budget 100 ms" in warning["message"]


@pytest.mark.dv_outcomes("DV212:fail")
def test_dv212_fails_when_init_exceeds_lambdas_limit(tmp_path: Path) -> None:
    """Past Lambda's 10 s init limit the function cannot start: a failure, whatever the budget says. The import
    sleeps longer than the limit, so its init time cannot come in under it."""
    require_docker()
    bundle = write_bundle(tmp_path / "bundle", {"app.py": "import time\ntime.sleep(10.5)\n\n\n" + HANDLER_APP})
    run = run_gate(["-c", str(_budget_target(tmp_path, bundle, 20_000)), "--image", TEST_IMAGE, "-k", "DV212"],
                   tmp_path / "report", env={"DV_CACHE_DIR": str(tmp_path / "cache")})
    assert run.status("DV212") == "fail", run.checks["DV212"]
    assert "Lambda's init limit: the function cannot start" in run.message("DV212")
    assert run.code == 1


def test_dv212_passes_within_the_budget(tmp_path: Path) -> None:
    require_docker()
    bundle = write_bundle(tmp_path / "bundle", {"app.py": HANDLER_APP})
    run = run_gate(["-c", str(_budget_target(tmp_path, bundle, 3000)), "--image", TEST_IMAGE, "-k", "DV212"],
                   tmp_path / "report", env={"DV_CACHE_DIR": str(tmp_path / "cache")})
    assert run.status("DV212") == "pass", run.checks["DV212"]
    assert run.findings("DV212") == []


# -- DV306: no TODO/FIXME markers in reachable code (a warning, never a failure) --------------------------------------

def test_dv306_warns_on_a_todo_in_reached_code(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"app.py": "def handler(event, context):\n"
                                                          "    # TODO: call the real classifier\n    return 1\n"})
    run = gate(bundle, tmp_path, "DV306")
    assert run.status("DV306") == "pass"
    [warning] = run.findings("DV306", "warning")
    assert "TODO" in warning["message"]
    assert "`handler`" in warning["message"]


def _fail_on_todo_target(tmp_path: Path, bundle: Path) -> Path:
    config = tmp_path / "gate.yaml"
    config.write_text(f"name: todo\nruntime: python3.11\nbundle: {{output: {bundle}}}\n"
                      "functions:\n  - {name: f, handler: app.handler}\nscan:\n  fail_on_todo: true\n")
    return config


@pytest.mark.dv_outcomes("DV306:fail")
def test_dv306_fails_on_a_todo_under_fail_on_todo(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"app.py": "def handler(event, context):\n"
                                                          "    # TODO: call the real classifier\n    return 1\n"})
    run = run_gate(["-c", str(_fail_on_todo_target(tmp_path, bundle)), "-k", "DV306"], tmp_path / "report",
                   env={"DV_CACHE_DIR": str(tmp_path / "cache")})
    assert run.status("DV306") == "fail", run.checks["DV306"]
    assert "`TODO` in `handler`" in run.message("DV306")
    assert "call the real classifier" in run.message("DV306")
    assert run.code == 1


def test_dv306_passes_without_markers(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", {"app.py": HANDLER_APP})
    run = gate(bundle, tmp_path, "DV306")
    assert run.status("DV306") == "pass", run.checks["DV306"]
    assert run.findings("DV306") == []
