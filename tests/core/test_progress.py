"""Long steps announce themselves on stderr while pytest captures the check's output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_waits_and_probe_announce_themselves_live(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_wait.py").write_text(
        "from deployverify.core.check import check\n"
        "from deployverify.core.waits import wait_for\n\n\n"
        "@check('DV501')\n"
        "def test_waits():\n"
        "    assert wait_for('the answer', 5, lambda: (True, 42), announce=True).last == 42\n")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "app.py").write_text("def handler(event, context):\n    return 1\n")
    done = subprocess.run([sys.executable, "-m", "pytest", str(suite), "--dv-bundle", str(bundle), "--dv-handler",
                           "app.handler", "--dv-report-dir", str(tmp_path / "out"), "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deployverify: waiting up to 5s for the answer" in done.stderr
