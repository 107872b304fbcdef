"""Faults between the harness and its services: a fault-injecting proxy (tests/support/fault_proxy.py) in front of
the moto endpoint and Postgres answers a fraction of requests with a throttling error (400 ThrottlingException,
503 SlowDown), a 500, a slow answer or a connection reset. At 10% and 30% a smoke run gives the same verdicts and
exit code as without faults, within its bound, and its report says what botocore retried (counted against what the
proxy injected). With the endpoint fully down the run ends within its bound, one clear error per affected check, no
traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.suites.test_smoke_suite import command, environment, stack
from tests.support import smoke_env
from tests.support.fault_proxy import FaultProxy
from tests.support.smoke_env import Resources

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RUN_BOUND_S = 240  # each run's configured bound: the subprocess is killed (and the test fails) past it
POSTGRES_PORT = 5432
RETRIED = re.compile(r"^retried (\S+) (\d+)x \((.*)\)$")


def run(resources: Resources, tmp_path: Path, target: Path, name: str, aws: FaultProxy,
        **env: str) -> tuple[int, dict[str, Any], str, float]:
    folder = tmp_path / name
    began = time.monotonic()
    done = subprocess.run(command("smoke", target, folder, f"dv-test-{resources.prefix}-{name}"),
                          capture_output=True, text=True, timeout=RUN_BOUND_S, check=False,
                          env={**environment(resources, tmp_path), "AWS_ENDPOINT_URL": aws.url, **env})
    seconds = time.monotonic() - began
    report = json.loads((folder / "report.json").read_text())
    return done.returncode, report, done.stdout + done.stderr, seconds


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


def retried(report: dict[str, Any]) -> dict[str, int]:
    """What the report says was retried, summed per operation over every check's evidence."""
    found: dict[str, int] = {}
    for check in report["checks"]:
        for line in check["evidence"]:
            match = RETRIED.match(line)
            if match:
                found[match[1]] = found.get(match[1], 0) + int(match[2])
    return found


def test_throttling_errors_and_resets_change_no_verdict(resources: Resources, tmp_path: Path) -> None:
    moto_port = int(resources.url.rsplit(":", 1)[1])
    with FaultProxy(moto_port) as aws, FaultProxy(POSTGRES_PORT, http=False) as postgres:
        resources.secret_value["port"] = postgres.port  # the harness reaches Postgres through the proxy
        with stack(resources, tmp_path, smoke_env.correct) as target:
            figures = []
            baseline = run(resources, tmp_path, target, "baseline", aws)
            assert baseline[0] == 0, baseline[2][-3000:]
            for fraction, attempts in ((0.1, "4"), (0.3, "8")):
                aws.fraction = postgres.fraction = fraction
                before = sum(v for k, v in aws.injected.items() if k != "slow") + postgres.injected["reset"]
                code, report, _output, seconds = run(resources, tmp_path, target, f"faults-{int(fraction * 100)}",
                                                    aws, DV_AWS_MAX_ATTEMPTS=attempts)
                injected = sum(v for k, v in aws.injected.items() if k != "slow") + postgres.injected["reset"] \
                    - before
                said = retried(report)
                figures.append((fraction, code, seconds, injected, sum(said.values()), said, statuses(report)))
    for fraction, code, seconds, injected, total, said, _found in figures:
        print(f"{fraction:.0%} faults: exit {code} in {seconds:.0f}s (bound {RUN_BOUND_S}s); injected {injected} "
              f"failing answer(s), the report says {total} retried: {said}")
    print(f"baseline: exit {baseline[0]} in {baseline[3]:.0f}s; the proxies in all: AWS {dict(aws.injected)} "
          f"({aws.relayed} relayed), Postgres {dict(postgres.injected)} ({postgres.relayed} relayed)")
    for fraction, code, _, injected, total, _, found in figures:
        assert (code, found) == (baseline[0], statuses(baseline[1])), fraction
        assert injected > 0
        assert total == injected  # every failing answer the proxy gave was retried, and the report says so


def test_an_endpoint_that_is_down_ends_the_run_with_one_clear_error_per_check(resources: Resources,
                                                                              tmp_path: Path) -> None:
    moto_port = int(resources.url.rsplit(":", 1)[1])
    with FaultProxy(moto_port, down=True) as aws, stack(resources, tmp_path, None) as target:
        code, report, output, seconds = run(resources, tmp_path, target, "down", aws)
    found = statuses(report)
    failed = {c["id"]: c["message"] for c in report["checks"] if c["status"] == "fail"}
    print(f"endpoint down: exit {code} in {seconds:.0f}s (bound {RUN_BOUND_S}s); {found}")
    for check_id, message in failed.items():
        print(f"  {check_id}: {message}")
    assert code == 1
    assert "Traceback" not in output
    assert "error" not in found.values()  # nothing crashed: every affected check failed or was blocked
    assert failed
    for message in failed.values():
        assert "\n" not in message
        assert "Connection" in message or "endpoint" in message.lower() or "reach" in message, message
