"""A run's id (it tags everything the run creates), timestamps and the cache folder shared by runs."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path


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
