"""Lambda-format log events into the emulated CloudWatch Logs: one stream per runtime, as Lambda writes them.

Lines are buffered and sent with PutLogEvents after every invocation and every second while one runs, so a check
that polls the log group sees an invocation's lines shortly after its END. A copy of every line also goes to a
plain file under the stack's folder, for a person reading along (`tail -f`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from typing import Any

MAX_BATCH_EVENTS = 5000
MAX_BATCH_BYTES = 900_000  # PutLogEvents allows 1,048,576 bytes, counting 26 bytes of overhead per event


def stream_name(now: float | None = None) -> str:
    """Lambda's stream names: `YYYY/MM/DD/[$LATEST]<32 hex>`, one per execution environment."""
    day = dt.datetime.fromtimestamp(now or time.time(), dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[$LATEST]{uuid.uuid4().hex}"


def iso_ms(epoch_s: float) -> str:
    stamp = dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{stamp}{int(epoch_s * 1000) % 1000:03d}Z"


class LogStream:
    def __init__(self, logs: Any, group: str, mirror: Path | None = None) -> None:
        self.logs = logs
        self.group = group
        self.name = stream_name()
        self.mirror = mirror
        self._events: list[dict[str, Any]] = []
        self._last_ms = 0
        self._buffer_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._created = False

    def add(self, message: str, at: float | None = None) -> None:
        # The runtime joins a multi-line error with "\r" on stdout so it stays one record; Lambda's log frames keep
        # it one event with real newlines, and so do we.
        message = message.replace("\r", "\n")
        stamp = int((at or time.time()) * 1000)
        with self._buffer_lock:
            stamp = max(stamp, self._last_ms)  # events in a batch must be in time order
            self._last_ms = stamp
            self._events.append({"timestamp": stamp, "message": message})
        if self.mirror is not None:
            with self.mirror.open("a", encoding="utf-8") as out:
                out.write(f"{iso_ms(stamp / 1000)} {self.name[-8:]} {message}\n")

    def flush(self) -> None:
        with self._send_lock:
            with self._buffer_lock:
                events, self._events = self._events, []
            if not events:
                return
            if not self._created:
                self._ensure_stream()
            for batch in _batches(events):
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.name, logEvents=batch)

    def _ensure_stream(self) -> None:
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_group(logGroupName=self.group)
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_stream(logGroupName=self.group, logStreamName=self.name)
        self._created = True


def _batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for event in events:
        cost = len(event["message"].encode()) + 26
        if batches[-1] and (len(batches[-1]) >= MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += cost
    return batches
