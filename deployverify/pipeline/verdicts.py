"""Judging a document's outcome: what the checks quote when it did not reach its status or its result is not real.

Kept apart from the trip so the checks' reasoning can be read (and tested) on plain outcome records, without AWS
or a database.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deployverify.pipeline import logs
from deployverify.pipeline.records import DocumentOutcome
from deployverify.target.model import Expectation


def not_reached_fix(outcome: DocumentOutcome) -> str:
    """What to look at when a document did not reach its final status: the cause the evidence points to."""
    row, collected = outcome.row, outcome.logs
    if row.stopped:
        return row.stopped
    if row.status == "failed" and row.error:
        return f"the worker stored the error `{row.error}`"
    if collected.init_errors:
        return f"the worker logged `{collected.init_errors[0]}`"
    if collected.problems:
        return f"the worker logged `{collected.problems[-1]}`"
    if collected.tail:
        return f"the worker's log ends: `{logs.first_line(collected.tail[-1])}`"
    if collected.error:
        return f"no worker logs ({collected.error}): is the function subscribed to the queue?"
    return "nothing consumed the trigger: check the event source mapping and the worker's logs"


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected == actual)
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    if expected is None or actual is None:
        return expected is actual
    return str(expected) == str(actual)


def result_problems(outcome: DocumentOutcome, expect: Expectation) -> list[str]:
    """Why a processed row does not carry the real result it should; empty when it does."""
    row = outcome.row
    found: list[str] = []
    fields = row.fields if isinstance(row.fields, Mapping) else {}
    if not row.document_type:
        return [f"is `{row.status}` with no classification" + ("" if fields else " and no extracted fields")]
    if expect.type is not None and row.document_type != expect.type:
        found.append(f"was classified as `{row.document_type}`, expected `{expect.type}`")
    if expect.min_confidence is not None:
        if row.confidence is None:
            found.append(f"has no confidence (expected at least {expect.min_confidence})")
        elif row.confidence < expect.min_confidence:
            found.append(f"has confidence {row.confidence:.2f}, below {expect.min_confidence}")
    for name, wanted in expect.fields.items():
        if name not in fields:
            found.append(f"lacks the field `{name}` (expected `{wanted}`)")
        elif not _same(wanted, fields[name]):
            found.append(f"has `{name}` = `{fields[name]}`, expected `{wanted}`")
    # The target lists the exact extracted fields: a key it does not expect is a wrong result too (a stub that
    # returns a canned payload, or an extractor reading the wrong document), not harmless extra data.
    unexpected = sorted(set(fields) - set(expect.fields)) if expect.fields else []
    for name in unexpected:
        found.append(f"has the unexpected field `{name}` = `{fields[name]}` (the target expects exactly "
                     f"{', '.join(f'`{n}`' for n in expect.fields)}; add it to the expectation or stop writing it)")
    return found


def evidence(outcome: DocumentOutcome) -> list[str]:
    row, pushed = outcome.row, outcome.pushed
    lines = [f"document {pushed.document_id} ({Path(outcome.file).name}): status `{row.status}` after "
             f"{row.waited_s}s; type `{row.document_type}`, confidence {row.confidence}"]
    if pushed.object_key:
        lines.append(f"object key: {pushed.object_key}; trigger message: {pushed.message_id}")
    if row.queue_depth is not None or row.dlq_depth is not None:
        lines.append(f"queue: {row.queue_depth}; DLQ: {row.dlq_depth}")
    if row.error:
        lines.append(f"error column: {row.error}")
    if outcome.cleanup_error:
        lines.append(f"cleanup problem: {outcome.cleanup_error}")
    return lines


def trip_timeline(outcome: DocumentOutcome) -> str | None:
    """The document's trip as one evidence item of ISO-timed lines (uploaded, message sent, invocation start and
    end, each status the wait saw), which the HTML report draws as a timeline; None before anything was sent."""
    steps = [*outcome.pushed.steps]
    for invocation in outcome.logs.invocations:
        if invocation.started_ms:
            steps.append((invocation.started_ms, f"invocation {invocation.request_id} started"))
        if invocation.ended_ms:
            ended = "ended" if invocation.ended_cleanly else f"ended with {invocation.error_type or 'an error'}"
            steps.append((invocation.ended_ms, f"invocation {invocation.request_id} {ended}"))
    steps += [(when, f"row status `{status}`") for when, status in outcome.row.changes]
    if len(steps) < 2:
        return None
    name = f"trip of document {outcome.pushed.document_id} ({Path(outcome.file).name})"
    return "\n".join([name, *(f"{_iso(when)} {what}" for when, what in sorted(steps, key=lambda s: s[0]))])


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def unfinished_message_ids(outcomes: Sequence[DocumentOutcome]) -> list[str]:
    """Trigger messages that may still be in a queue: their document never reached its final status."""
    return [o.pushed.message_id for o in outcomes if o.pushed.message_id
            and not o.pushed.message_id.startswith("invoke:") and not o.consumed]
