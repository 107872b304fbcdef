"""What each stage of a document's trip hands to the next, and the whole trip's outcome: immutable plain data.

The trip is four stages (see trip.py): push makes the row, the object and the trigger (`Pushed`); the wait
watches the row (`RowWaited`); the log collection gathers the invocations that named the document
(`LogsCollected`); the outcome puts them together with the timings and the cleanup (`DocumentOutcome`). Each
stage returns a new record instead of filling in a shared one, so what a stage may depend on is in its signature.

Under pytest-xdist the process that ran a document hands its outcome to the others through the RunStore as JSON:
`outcome_to_json` and `outcome_from_json` are the one way there and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from deployverify.pipeline import logs


@dataclass(frozen=True)
class Pushed:
    """What push made before it finished or failed: cleanup removes exactly this."""

    document_id: int | None = None
    object_key: str | None = None
    message_id: str | None = None
    pushed_ms: int | None = None  # wall clock when the row was inserted: the start of the log window
    error: str | None = None  # why the row, the object or the trigger could not be made
    steps: tuple[tuple[int, str], ...] = ()  # (wall clock ms, what happened): the trip's first steps, for the report

    @property
    def sent(self) -> bool:
        return self.error is None and self.document_id is not None and self.pushed_ms is not None


@dataclass(frozen=True)
class RowWaited:
    """The row as the wait last saw it, and why the wait ended."""

    status: str | None = None
    document_type: str | None = None
    confidence: float | None = None
    fields: Any = None
    error: str | None = None  # the row's error column, redacted
    waited_s: float = 0.0
    timed_out: bool = False
    stopped: str | None = None  # why the wait ended before the row moved
    queue_depth: str | None = None  # looked at only when the row did not reach the final status
    dlq_depth: str | None = None
    changes: tuple[tuple[int, str], ...] = ()  # (wall clock ms, status) each time the wait saw the status change


@dataclass(frozen=True)
class InvocationEvidence:
    request_id: str
    lines: tuple[str, ...]
    duration_ms: float | None = None
    init_ms: float | None = None
    max_memory_mb: int | None = None
    status: str | None = None
    error_type: str | None = None
    started_ms: int | None = None  # the first log line's timestamp
    ended_ms: int | None = None  # the last log line's (the REPORT line's, when there is one)

    @property
    def ended_cleanly(self) -> bool:
        """It has a REPORT with no error status and logged no problem: SQS deleted its message."""
        return (self.duration_ms is not None and self.status is None and self.error_type is None
                and not any(logs.PROBLEM.search(line) for line in self.lines))


@dataclass(frozen=True)
class LogsCollected:
    group: str | None = None
    error: str | None = None  # why the logs could not be read
    tail: tuple[str, ...] = ()
    invocations: tuple[InvocationEvidence, ...] = ()
    problems: tuple[str, ...] = ()  # Runtime.* errors and tracebacks of the document's invocations
    init_errors: tuple[str, ...] = ()  # handler load failures in the document's window


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each stage (None for a stage that did not run)."""

    push_s: float | None = None
    wait_s: float | None = None
    logs_s: float | None = None
    total_s: float | None = None


@dataclass(frozen=True)
class DocumentOutcome:
    key: str
    file: str
    expected_status: str
    pushed: Pushed
    row: RowWaited
    logs: LogsCollected
    timings: Timings
    cleanup_error: str | None = None

    @property
    def document_id(self) -> int | None:
        return self.pushed.document_id

    @property
    def reached(self) -> bool:
        return self.row.status == self.expected_status

    @property
    def consumed(self) -> bool:
        """The trigger is gone: the document is done, or an invocation for it ended without error (SQS deletes the
        message then, whatever the handler did)."""
        return self.reached or any(i.ended_cleanly for i in self.logs.invocations)

    def worker_ms(self) -> float | None:
        """The worker's own time for this document: the REPORT duration of the invocation(s) that named it."""
        durations = [i.duration_ms for i in self.logs.invocations if i.duration_ms is not None]
        return sum(durations) if durations else None


def outcome_to_json(outcome: DocumentOutcome) -> dict[str, Any]:
    return asdict(outcome)


def outcome_from_json(data: Mapping[str, Any]) -> DocumentOutcome:
    """The outcome another process wrote (JSON turned the tuples into lists: they come back as tuples)."""
    collected = dict(data["logs"])
    invocations = tuple(InvocationEvidence(**{**i, "lines": tuple(i["lines"])}) for i in collected["invocations"])
    return DocumentOutcome(
        key=data["key"], file=data["file"], expected_status=data["expected_status"],
        pushed=Pushed(**{**data["pushed"], "steps": _steps(data["pushed"].get("steps", ()))}),
        row=RowWaited(**{**data["row"], "changes": _steps(data["row"].get("changes", ()))}),
        logs=LogsCollected(group=collected["group"], error=collected["error"], tail=tuple(collected["tail"]),
                           invocations=invocations, problems=tuple(collected["problems"]),
                           init_errors=tuple(collected["init_errors"])),
        timings=Timings(**data["timings"]), cleanup_error=data.get("cleanup_error"))


def _steps(pairs: Any) -> tuple[tuple[int, str], ...]:
    return tuple((int(when), str(what)) for when, what in pairs)
