"""Item 7 of issue 14: a run that checked nothing must not look green in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_checks_without_a_target(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci}
    return subprocess.run([sys.executable, "-m", "pytest", str(REPO / "checks"), "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env, check=False)


def test_checks_without_a_target_are_a_usage_error_in_ci() -> None:
    done = run_checks_without_a_target("true")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "no deployverify target: pass --dv-target FILE" in done.stderr
    assert "CI=true" in done.stderr


def test_checks_without_a_target_skip_on_a_laptop() -> None:
    done = run_checks_without_a_target("")
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
    assert "skipped" in done.stdout
    assert "passed" not in done.stdout
