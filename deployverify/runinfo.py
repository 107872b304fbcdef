"""The identity of one run: its id (tags everything the run creates), mode, target and where reports go."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from deployverify.target import Target

MODES = ("gate", "smoke", "canary")


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"dv-{stamp}-{secrets.token_hex(3)}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def cache_dir() -> Path:
    root = os.environ.get("DV_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "deployverify")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    mode: str
    target: Target
    report_dir: Path
    started_at: str
    require_image: bool = False

    @property
    def cache_dir(self) -> Path:
        return cache_dir()
