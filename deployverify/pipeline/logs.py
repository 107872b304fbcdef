"""The worker's CloudWatch Logs, read as Lambda writes them: START, the function's lines, END, REPORT per request.

An invocation is found by the document it handled: any of its lines naming the document id ("document 42",
"[document 42]", "document_id": 42). Errors are Lambda's `Runtime.*` error types (an init failure such as
`Runtime.ImportModuleError` is logged before any START), Python tracebacks and timeouts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

_REQUEST_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_CONTROL = re.compile(r"^(START|END|REPORT) RequestId: (\S+)")
_REPORT_FIELDS = {
    "duration": re.compile(r"(?<!Billed )(?<!Init )Duration:\s*([\d.]+)"),
    "billed": re.compile(r"Billed Duration:\s*([\d.]+)"),
    "memory": re.compile(r"Memory Size:\s*([\d.]+)"),
    "max_memory": re.compile(r"Max Memory Used:\s*([\d.]+)"),
    "init": re.compile(r"Init Duration:\s*([\d.]+)"),
    "status": re.compile(r"Status:\s*(\w+)"),
    "error_type": re.compile(r"Error Type:\s*(\S+)"),
}
RUNTIME_ERROR = re.compile(r"\bRuntime\.[A-Z][A-Za-z]+\b")
# The runtime's line for an exception that left the handler: `[ERROR] OperationalError: ...` (no tab-separated
# timestamp and request id, unlike the function's own `logger.error` lines).
UNCAUGHT = re.compile(r"^\[ERROR\] [A-Za-z_][\w.]*: ", re.MULTILINE)
PROBLEM = re.compile(r"Runtime\.[A-Z][A-Za-z]+|Traceback \(most recent call last\)|Task timed out after|"
                     r"^\[ERROR\] [A-Za-z_][\w.]*: ", re.MULTILINE)
INIT_ERRORS = ("Runtime.ImportModuleError", "Runtime.HandlerNotFound", "Runtime.MalformedHandlerName",
               "Runtime.UserCodeSyntaxError")
_INIT_ERROR_MESSAGE = re.compile(r"Runtime\.[A-Za-z]+: \S")
MAX_EVENTS = 20000


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    stream: str
    text: str

    def render(self) -> str:
        return self.text.rstrip("\n")


@dataclass(frozen=True)
class Report:
    request_id: str
    duration_ms: float
    billed_ms: int | None = None
    memory_mb: int | None = None
    max_memory_mb: int | None = None
    init_ms: float | None = None
    status: str | None = None
    error_type: str | None = None


@dataclass
class Invocation:
    request_id: str
    stream: str
    lines: list[LogLine] = field(default_factory=list)
    report: Report | None = None

    @property
    def started_ms(self) -> int:
        return self.lines[0].timestamp_ms if self.lines else 0

    def text(self) -> list[str]:
        return [line.render() for line in self.lines]

    def mentions(self, document_id: object) -> bool:
        pattern = document_pattern(document_id)
        return any(pattern.search(line.text) for line in self.lines)


@dataclass
class LogView:
    """One log group's events in a window, split into invocations and the lines outside any (init, stray)."""

    group: str
    lines: list[LogLine]
    invocations: dict[str, Invocation]
    outside: list[LogLine]
    truncated: bool = False

    def for_document(self, document_id: object) -> list[Invocation]:
        return sorted((i for i in self.invocations.values() if i.mentions(document_id)), key=lambda i: i.started_ms)

    def tail(self, count: int = 5) -> list[str]:
        return [line.render() for line in self.lines[-count:]]

    def init_errors(self) -> list[LogLine]:
        """Lines reporting that the handler could not be loaded, the most telling (`[ERROR] Runtime.X: why`) first."""
        found = [line for line in self.lines if any(kind in line.text for kind in INIT_ERRORS)]
        return sorted(found, key=lambda line: 0 if _INIT_ERROR_MESSAGE.search(line.text) else 1)


class LogGroupMissing(Exception):
    pass


def document_pattern(document_id: object) -> re.Pattern[str]:
    return re.compile(rf"(?i)\bdocument(?:[ _]?id)?[\"']?\s*[:=]?\s*[\"']?{re.escape(str(document_id))}(?!\d)")


def fetch(client: Any, group: str, start_ms: int, end_ms: int | None = None, *, limit: int = MAX_EVENTS) -> LogView:
    """Every event of `group` between the two times (all streams), oldest first."""
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms, "interleaved": True}
    if end_ms is not None:
        kwargs["endTime"] = end_ms
    lines: list[LogLine] = []
    truncated = False
    try:
        for page in client.get_paginator("filter_log_events").paginate(**kwargs):
            for event in page.get("events", []):
                lines.append(LogLine(int(event["timestamp"]), str(event.get("logStreamName", "")),
                                     str(event.get("message", ""))))
            if len(lines) >= limit:
                truncated = True
                break
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise LogGroupMissing(group) from None
        raise
    lines.sort(key=lambda line: line.timestamp_ms)  # stable: keeps each stream's own order for equal stamps
    invocations, outside = split(lines)
    return LogView(group=group, lines=lines, invocations=invocations, outside=outside, truncated=truncated)


def split(lines: Iterable[LogLine]) -> tuple[dict[str, Invocation], list[LogLine]]:
    """Group lines into invocations by request id, stream by stream (a stream runs one invocation at a time)."""
    invocations: dict[str, Invocation] = {}
    outside: list[LogLine] = []
    current: dict[str, str | None] = {}
    for line in lines:
        control = _CONTROL.match(line.text)
        request_id: str | None
        if control:
            kind, request_id = control.group(1), control.group(2)
            invocation = invocations.setdefault(request_id, Invocation(request_id, line.stream))
            invocation.lines.append(line)
            if kind == "START":
                current[line.stream] = request_id
            elif kind == "REPORT":
                invocation.report = parse_report(line.text)
                current[line.stream] = None
            continue
        found = _REQUEST_ID.search(line.text)
        request_id = found.group(0) if found and found.group(0) in invocations else current.get(line.stream)
        if request_id is None:
            outside.append(line)
        else:
            invocations.setdefault(request_id, Invocation(request_id, line.stream)).lines.append(line)
    return invocations, outside


def parse_report(text: str) -> Report | None:
    control = _CONTROL.match(text)
    if not control or control.group(1) != "REPORT":
        return None
    found = {name: m.group(1) for name, pattern in _REPORT_FIELDS.items() if (m := pattern.search(text))}
    if "duration" not in found:
        return None

    def number(name: str) -> float | None:
        return float(found[name]) if name in found else None

    def whole(name: str) -> int | None:
        value = number(name)
        return None if value is None else int(value)

    return Report(request_id=control.group(2), duration_ms=float(found["duration"]), billed_ms=whole("billed"),
                  memory_mb=whole("memory"), max_memory_mb=whole("max_memory"), init_ms=number("init"),
                  status=found.get("status"), error_type=found.get("error_type"))


def problems(lines: Sequence[LogLine]) -> list[LogLine]:
    """Lines that show the worker failing: Runtime.* errors, uncaught exceptions, tracebacks, timeouts; the most
    telling first (the exception's own line says more than the `Traceback` that follows it)."""
    found = [line for line in lines if PROBLEM.search(line.text)]
    return sorted(found, key=lambda line: 1 if line.text.lstrip().startswith("Traceback") else 0)


def first_line(text: str) -> str:
    return next((part.strip() for part in text.splitlines() if part.strip()), "")


_PREFIX = re.compile(r"^\[(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\]\s+(?:\S+\t\S+\t)?")


def summarise(line: LogLine) -> str:
    """A log line fit for a one-line message: its first line, without the runtime's `[LEVEL] time request` prefix."""
    return _PREFIX.sub("", first_line(line.text))
