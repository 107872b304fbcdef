"""A failed prerequisite is reported once: the blocking check carries the cause, each blocked check one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CAUSE = "ERROR: No matching distribution found for pymupdf==9.9.9"
TARGET = f"""\
name: broken
runtime: python3.11
bundle:
  command: "echo '{CAUSE}' >&2; exit 3"
  output: build/bundle
functions:
  - name: worker
    handler: app.handler
"""


def test_a_failed_build_is_printed_once_and_blocks_the_rest_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "deployverify.yaml").write_text(TARGET, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "--report-dir", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    summary = [line for line in done.stdout.splitlines() if line.startswith("DV")]
    assert [line for line in summary if CAUSE in line] == [next(line for line in summary if line.startswith("DV101"))]
    blocked = [line for line in summary if " SKIP " in line]
    assert len(blocked) > 10
    assert all(line.endswith(": blocked by DV101") for line in blocked), blocked
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    causes = [check["id"] for check in report["checks"] if CAUSE in json.dumps(check)]
    assert causes == ["DV101"]
    assert {check["message"] for check in report["checks"] if check["status"] == "skip"} == {"blocked by DV101"}
