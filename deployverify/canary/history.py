"""Run history: one line per smoke or canary run, kept where the target says (`history:`), read back for the trend.

A location is a JSON-lines file (appended to, one fsynced line per run) or an S3 prefix `s3://bucket/prefix/`
(one small object per run: S3 has no append, and one object per run means two runs never overwrite each other).
Object keys start with the run's start time, so listing them in key order is listing the runs in time order.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployverify.core.results import RunReport

TREND_RUNS = 30  # how many runs the report's trend shows
MODES = ("smoke", "canary")  # the gate runs on pull requests: its history is the pull request's, not the service's


def entry(run: RunReport) -> dict[str, Any]:
    return {"run_id": run.run_id, "mode": run.mode, "target": run.target, "started_at": run.started_at,
            "finished_at": run.finished_at, "duration_s": _duration_s(run.started_at, run.finished_at),
            "status": run.status.value,
            "checks": {r.id: r.status.value for r in sorted(run.checks, key=lambda r: r.id)}}


def _duration_s(started: str, finished: str) -> float:
    try:
        return round((dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)).total_seconds(), 1)
    except ValueError:
        return 0.0


def _split_s3(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def append(location: str, line: dict[str, Any], s3: Callable[[], Any] | None = None) -> None:
    if location.startswith("s3://"):
        bucket, prefix = _split_s3(location)
        key = f"{prefix}{line['started_at']}-{line['run_id']}.json"
        _client(s3).put_object(Bucket=bucket, Key=key, Body=json.dumps(line).encode(),
                               ContentType="application/json")
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        torn = handle.tell() > 0 and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n"
        # A run killed mid-line left no newline: start on a fresh line so this run's line is not glued onto it.
        handle.write((b"\n" if torn else b"") + json.dumps(line, separators=(",", ":")).encode() + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def read(location: str, last: int = TREND_RUNS, s3: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """The last `last` runs, oldest first. A torn line (a run killed while writing it) is skipped, not fatal."""
    if location.startswith("s3://"):
        bucket, prefix = _split_s3(location)
        client = _client(s3)
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        texts = [client.get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in sorted(keys)[-last:]]
    else:
        path = Path(location)
        texts = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = []
    for text in texts:
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "run_id" in parsed:
            lines.append(parsed)
    return lines[-last:]


def _client(s3: Callable[[], Any] | None) -> Any:
    if s3 is not None:
        return s3()
    from deployverify.aws.session import client

    return client("s3")


def flips(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Checks whose status changed between the last two runs: what broke, what recovered, what is new."""
    if len(history) < 2:
        return []
    before, after = history[-2].get("checks", {}), history[-1].get("checks", {})
    changed = []
    for check_id in sorted(set(before) | set(after)):
        was, now = before.get(check_id, "absent"), after.get(check_id, "absent")
        if was != now:
            changed.append({"id": check_id, "before": was, "after": now})
    return changed


def record(run: RunReport, location: str | None) -> list[dict[str, Any]]:
    """Append this run and return the history the report shows (this run last); nothing when no history is set."""
    if not location or run.mode not in MODES:
        return []
    earlier = read(location, TREND_RUNS - 1)
    line = entry(run)
    append(location, line)
    return [*earlier, line]
