"""The long variants of tests/reliability/: every incident under `-n 2` against a serial run (CI runs one incident
per way of failing). Exits with pytest's status, so a failure is a non-zero exit.

    .venv/bin/python bench/reliability_full.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "tests/reliability/test_concurrency.py"],
                          cwd=REPO, env={**os.environ, "DV_RELIABILITY_FULL": "1"}, check=False)
    sys.exit(done.returncode)
