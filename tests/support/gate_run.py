"""Run `deployverify gate` as a user does (a subprocess of the real CLI) and read its report.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.outcomes import observe

REPO = Path(__file__).resolve().parents[2]


@dataclass
class GateRun:
    code: int
    checks: dict[str, dict[str, Any]]
    output: str

    def status(self, check_id: str) -> str:
        status = str(self.checks[check_id]["status"])
        observe(check_id.split(":")[-1], status)  # `Function:DVnnn` proves DVnnn
        return status

    def message(self, check_id: str) -> str:
        return str(self.checks[check_id]["message"])

    def findings(self, check_id: str, severity: str | None = None) -> list[dict[str, Any]]:
        found = self.checks[check_id]["findings"]
        return [f for f in found if severity is None or f["severity"] == severity]

    def evidence(self, check_id: str) -> str:
        return "\n".join(self.checks[check_id]["evidence"])


def run_gate(args: list[str], report_dir: Path, *, env: dict[str, str] | None = None,
             timeout_s: float = 1800) -> GateRun:
    command = [sys.executable, "-m", "deployverify.cli", "gate", *args, "--report-dir", str(report_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=REPO,
                          env={**os.environ, **(env or {})}, check=False)
    output = done.stdout + done.stderr
    report = report_dir / "report.json"
    assert report.exists(), f"no report.json (exit {done.returncode}):\n{output[-3000:]}"
    checks: dict[str, dict[str, Any]] = {}
    for check in json.loads(report.read_text())["checks"]:
        checks.setdefault(check["id"], check)  # a one-function target's results, by id alone
        if check.get("function"):  # every function's own, as `Function:DVnnn`
            checks[f"{check['function']}:{check['id']}"] = check
    return GateRun(done.returncode, checks, output)
