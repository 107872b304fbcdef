"""`deployverify local ...` and `deployverify demo`, as a user runs them: the README's main command, end to end."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.cli import main
from deployverify.lambda_image.docker import list_containers
from deployverify.local import procs
from tests.support.env import TEST_IMAGE, require_docker

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_status_and_env_say_when_no_stack_is_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DV_CACHE_DIR", str(tmp_path))
    assert main(["local", "status"]) == 1
    assert capsys.readouterr().out.startswith("local stack: down")
    assert main(["local", "env"]) == 2
    # (The test database's password is "deployverify": once another test registered it, output masks the word.)
    assert "no local stack is up; run `" in capsys.readouterr().err
    assert main(["local", "down"]) == 0


@pytest.mark.docker
@pytest.mark.slow
def test_demo_runs_gate_smoke_and_canary_with_no_aws_account(tmp_path: Path) -> None:
    require_docker()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DV_"))}
    env.update(DV_CACHE_DIR=str(tmp_path / "cache"), DV_IMAGE=TEST_IMAGE, DV_LOCAL_MOTO_PORT=str(procs.free_port()),
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "demo", "--report-dir", str(tmp_path / "out")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"report: {tmp_path / 'out' / 'report.html'}"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    statuses = {check["id"]: check["status"] for check in report["checks"]}
    assert {statuses.get(i) for i in ("DV101", "DV211", "DV401", "DV410", "DV420", "DV501", "DV502", "DV510",
                                      "DV521", "DV603")} == {"pass"}
    assert report["mode"] == "canary"
    for mode in ("gate", "smoke", "canary"):  # the three moments, each with its own report folder
        assert (tmp_path / "out" / mode / "report.json").exists(), mode
        assert f" {mode}\n" in done.stderr
    assert "local stack removed" in done.stderr
    assert not (tmp_path / "cache" / "local" / "state.json").exists()
    stack_id = hashlib.sha256(str((tmp_path / "cache" / "local").resolve()).encode()).hexdigest()[:10]
    assert list_containers({"deployverify.stack": stack_id}) == []
