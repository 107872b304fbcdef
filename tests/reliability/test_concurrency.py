"""Concurrency: two smoke runs against one stack at the same time both pass and never see each other's documents;
`-n 2` (pytest-xdist) gives the same verdicts as a serial run on the example and on every incident (each incident
played by the scripted worker or its bundle variant, as in tests/suites/test_smoke_suite.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fixtures.incidents.materialize import materialize
from tests.reliability.test_cleanup_interrupts import leftovers, sweeping_run
from tests.suites.test_smoke_suite import RUN_TIMEOUT_S, assert_nothing_left, command, email, environment, smoke, stack
from tests.support import smoke_env
from tests.support.smoke_env import Job, Resources, Result

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def missing_shared_module(job: Job) -> Result:
    return Result([], ok=False, init_error="Runtime.ImportModuleError: Unable to import module "
                  "'process_document_lambda': No module named 'shared.storage'")


CASES: dict[str, tuple[smoke_env.Behaviour, str | None]] = {
    "example": (smoke_env.correct, None),
    "mock_stub": (smoke_env.mock, None),
    "secret_key_mismatch": (smoke_env.correct, "secret_key_mismatch"),
    "import_path": (smoke_env.import_error, None),
    "missing_shared_module": (missing_shared_module, None),
}


@pytest.mark.parametrize("case", list(CASES))  # the example and every incident, in CI too
def test_two_processes_give_the_same_verdicts_as_one(case: str, resources: Resources, tmp_path: Path) -> None:
    behaviour, variant = CASES[case]
    source = materialize(variant, tmp_path / "variant") if variant else None
    with stack(resources, tmp_path, behaviour, bundle_source=source) as target:
        # An incident's documents never reach `processed`: each waits the whole pipeline timeout, so keep it short.
        timeout = "timeout_s: 20" if case == "example" else "timeout_s: 3"
        target.write_text(target.read_text().replace("timeout_s: 20", timeout))
        serial = smoke(resources, tmp_path, target, name="serial")
        parallel = smoke(resources, tmp_path, target, "-n", "2", name="xdist")
    verdicts = {run: {c["id"]: c["status"] for c in s.report["checks"]} for run, s in
                (("serial", serial), ("xdist", parallel))}
    differing = {k: (verdicts["serial"][k], verdicts["xdist"].get(k)) for k in verdicts["serial"]
                 if verdicts["serial"][k] != verdicts["xdist"].get(k)}
    print(f"{case}: serial exit {serial.code}, -n 2 exit {parallel.code}; "
          f"{sum(v != 'pass' for v in verdicts['serial'].values())} check(s) not passing; differing {differing}")
    assert differing == {}
    assert serial.code == parallel.code
    assert (case == "example") == (serial.code == 0)
    for run in (serial, parallel):
        assert_nothing_left(resources, run.run_id, email(resources))


def document_ids(report: dict[str, Any]) -> set[int]:
    evidence = next(c for c in report["checks"] if c["id"] == "DV501")["evidence"]
    return {int(m[1]) for line in evidence if (m := re.match(r"document (\d+) ", line))}


def test_two_runs_at_once_both_pass_and_never_see_each_others_documents(resources: Resources,
                                                                       tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target, smoke_env.ScriptedWorker(resources, smoke_env.correct,
                                                                              consumers=2):
        runs = {}
        for name in ("first", "second"):
            run_id = f"dv-test-{resources.prefix}-{name}"
            runs[name] = (run_id, subprocess.Popen(command("smoke", target, tmp_path / name, run_id),
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                   env=environment(resources, tmp_path)))
        codes = {name: process.wait(timeout=RUN_TIMEOUT_S) for name, (_, process) in runs.items()}
        for _, process in runs.values():
            process.communicate()
    reports = {name: json.loads((tmp_path / name / "report.json").read_text()) for name in runs}
    statuses = {name: {c["status"] for c in report["checks"]} for name, report in reports.items()}
    ids = {name: document_ids(report) for name, report in reports.items()}
    print(f"two runs at once: exits {codes}; statuses {statuses}; document ids {ids}")
    assert codes == {"first": 0, "second": 0}
    assert statuses == {"first": {"pass"}, "second": {"pass"}}
    assert len(ids["first"]) == len(ids["second"]) == 4
    assert ids["first"].isdisjoint(ids["second"])
    for name, report in reports.items():
        other = runs["second" if name == "first" else "first"][0]
        assert other not in json.dumps(report)  # nothing of the other run in this run's report
    # The seeded user is shared: the run that created it keeps it while the other run's documents still point at
    # it, and the other run does not own it. When that happens the user outlives both runs, and the next run
    # sweeps it (and says so).
    after_both = leftovers(resources)
    swept = None
    if after_both != dict.fromkeys(after_both, 0):
        with smoke_env.ScriptedWorker(resources, smoke_env.correct):
            swept = sweeping_run(resources, tmp_path, target, "next")
    left = leftovers(resources)
    print(f"leftovers after both runs {after_both}; after the next run {left}")
    assert after_both["rows"] == after_both["objects"] == after_both["queued"] == 0
    if swept is not None:
        assert "swept 1 row(s) of `users` left by earlier run(s)" in swept.stderr
    assert left == dict.fromkeys(left, 0)
