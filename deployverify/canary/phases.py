"""Migration phases: each phase the target declares is bound to check ids and is done when every one of them passed.

The seed's root cause was a migration whose phase 3 (real worker code) never completed, with nothing tracking the
phases; the canary shows each phase as done or not every night. A check's status comes from this run when it ran
here, else from the newest of the earlier reports the target names (the deploy's gate report, say), else it is
"not run" and its phase is not done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deployverify.target.model import MigrationPhase

_RANK = {"error": 3, "fail": 2, "pass": 1, "skip": 0}


@dataclass(frozen=True)
class CheckState:
    check_id: str
    status: str  # pass, fail, error, skip or "not run"
    source: str  # "this run" or the report it came from


@dataclass(frozen=True)
class PhaseState:
    name: str
    checks: tuple[CheckState, ...]

    @property
    def done(self) -> bool:
        return all(c.status == "pass" for c in self.checks)

    def describe(self) -> str:
        parts = ", ".join(f"{c.check_id} {c.status}" + ("" if c.source == "this run" else f" ({c.source})")
                          for c in self.checks)
        return f"phase `{self.name}`: {'done' if self.done else 'NOT DONE'} ({parts})"


def report_statuses(paths: Sequence[Path]) -> dict[str, tuple[str, str]]:
    """Check id -> (status, report) from earlier runs' report.json files (a folder means its report.json); the newest
    report (by finished_at) wins for an id found in several. Unreadable files are skipped."""
    found: dict[str, tuple[str, str, str]] = {}
    for path in paths:
        file = path / "report.json" if path.is_dir() else path
        try:
            report = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        finished = str(report.get("finished_at", ""))
        label = f"{report.get('mode', 'run')} {report.get('run_id', file.name)}"
        for check in report.get("checks", []):
            have = found.get(str(check["id"]))
            if have is None or finished > have[2]:
                found[str(check["id"])] = (str(check["status"]), label, finished)
    return {k: (status, label) for k, (status, label, _) in found.items()}


def phase_states(phases: Sequence[MigrationPhase], this_run: Mapping[str, str],
                 earlier: Mapping[str, tuple[str, str]]) -> list[PhaseState]:
    states = []
    for phase in phases:
        checks = []
        for check_id in phase.checks:
            if check_id in this_run:
                checks.append(CheckState(check_id, this_run[check_id], "this run"))
            elif check_id in earlier:
                status, source = earlier[check_id]
                checks.append(CheckState(check_id, status, source))
            else:
                checks.append(CheckState(check_id, "not run", "no report"))
        states.append(PhaseState(phase.name, tuple(checks)))
    return states


def worse(a: str | None, b: str) -> str:
    return b if a is None or _RANK.get(b, 0) > _RANK.get(a, 0) else a
