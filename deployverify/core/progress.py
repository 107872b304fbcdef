"""Progress lines for long steps (builds, the import probe, waits), shown live even while pytest captures output.

pytest captures a check's stdout and stderr at the file-descriptor level, which would hold a "waiting for ..." line
until the check ends; the plugin hands over its capture manager so a progress line can step around the capture.
"""

from __future__ import annotations

import sys
from typing import Any

_capture_manager: Any = None


def attach(capture_manager: Any) -> None:
    global _capture_manager
    _capture_manager = capture_manager


def say(message: str) -> None:
    line = f"deployverify: {message}\n"
    manager = _capture_manager
    if manager is None:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    with manager.global_and_fixture_disabled():
        sys.stderr.write("\n" + line)  # pytest's progress dots leave the cursor mid-line
        sys.stderr.flush()
