"""One fixture document through the deployed pipeline: row, upload, trigger, wait, evidence, and its removal.

For each document: insert its row for the test user with status `uploaded` (tagged with the run id), upload the
file under `<key_prefix>/<run id>/`, send the trigger (an SQS message, FIFO group and dedup id per document, or an
asynchronous Lambda invoke), then poll the row with backoff until it reaches the final or the failed status or the
target's timeout. Two things end the wait early, because nothing more can happen: the worker cannot load its
handler (`Runtime.ImportModuleError` and kin in the logs), or an invocation that named the document ended cleanly
while the row never moved (the mock incident: success reported, nothing done). Then the invocation's log lines are
collected as evidence, and the row and the object are removed, whatever happened.

Each stage returns its own immutable record (records.py); `run_document` chains them into a `DocumentOutcome`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2.extensions import connection as Connection

from deployverify.core import redact
from deployverify.core.waits import wait_for
from deployverify.pipeline import db, dlq, logs, rows
from deployverify.pipeline.records import DocumentOutcome, InvocationEvidence, LogsCollected, Pushed, RowWaited, Timings
from deployverify.pipeline.rows import INITIAL_STATUS, RowLayout
from deployverify.target.model import Document, Pipeline, Target

RUN_METADATA = "deployverify-run-id"
ROW_POLL_MAX_S = 0.5  # the row query is one indexed lookup: poll often, the overshoot is harness overhead
LOG_CHECK_EVERY_S = 1.0
REPORT_WAIT_S = 30.0  # CloudWatch Logs may lag the row by a few seconds
REPORT_WAIT_FAILED_S = 5.0
UNTOUCHED_GRACE_S = 1.0  # the row is written before the handler returns; REPORT comes after
WINDOW_SLACK_MS = 5000
MAX_EVIDENCE_LINES = 60
PUSH_ERRORS = (ClientError, BotoCoreError, psycopg2.Error, OSError)


def log_group(target: Target) -> str | None:
    if target.logs.group:
        return target.logs.group
    name = function_name(target)
    return f"/aws/lambda/{name}" if name else None


def function_name(target: Target) -> str | None:
    if target.pipeline and target.pipeline.trigger.function:
        return target.pipeline.trigger.function
    if not target.functions:
        return None
    first = target.functions[0]
    return first.function_name or first.name


@dataclass
class Clients:
    s3: Any
    sqs: Any
    lambda_: Any
    logs: Any

    @classmethod
    def of(cls, client: Callable[[str], Any]) -> Clients:
        """The four clients a trip uses, from a `client(service)` factory."""
        return cls(s3=client("s3"), sqs=client("sqs"), lambda_=client("lambda"), logs=client("logs"))


@dataclass
class TripContext:
    target: Target
    pipeline: Pipeline
    run_id: str
    clients: Clients
    conn: Connection
    user_id: Any
    layout: RowLayout
    queue_url: str | None = None
    dlq_url: str | None = None

    @property
    def group(self) -> str | None:
        return log_group(self.target)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return redact.redact(f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".strip())
    return db.describe_error(exc)


def _message(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for name, actual in values.items():
                if value == f"{{{name}}}":
                    return actual  # a lone placeholder keeps its type: document_id stays an integer
            return value.format_map(_Default({k: str(v) for k, v in values.items()}))
        if isinstance(value, Mapping):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    return {k: fill(v) for k, v in template.items()}


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _send_trigger(ctx: TripContext, document_id: int, object_key: str) -> str:
    values = {"document_id": document_id, "run_id": ctx.run_id, "bucket": ctx.pipeline.bucket,
              "key": object_key, "user_id": ctx.user_id}
    body = json.dumps(_message(ctx.pipeline.trigger.message, values))
    trigger = ctx.pipeline.trigger
    if trigger.type == "invoke":
        name = trigger.function or function_name(ctx.target)
        ctx.clients.lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=body.encode())
        return f"invoke:{document_id}"
    assert ctx.queue_url is not None
    kwargs: dict[str, Any] = {"QueueUrl": ctx.queue_url, "MessageBody": body,
                              "MessageAttributes": {RUN_METADATA: {"DataType": "String", "StringValue": ctx.run_id}}}
    if dlq.is_fifo(ctx.queue_url):
        # One group per document: documents of a run are processed in parallel, and a re-run is not deduplicated.
        kwargs["MessageGroupId"] = f"{ctx.run_id}-{document_id}"
        kwargs["MessageDeduplicationId"] = f"{ctx.run_id}-{document_id}"
    return str(ctx.clients.sqs.send_message(**kwargs)["MessageId"])


def _now_ms() -> int:
    return int(time.time() * 1000)


def push(ctx: TripContext, document: Document) -> Pushed:
    """Row, object, trigger. Stops at the first failure and records it; what was made so far is in the record."""
    object_key = f"{ctx.pipeline.key_prefix.strip('/')}/{ctx.run_id}/{uuid.uuid4().hex[:8]}-{document.file.name}"
    made = Pushed()
    try:
        document_id = rows.insert_row(ctx.conn, ctx.layout, ctx.run_id, ctx.user_id, object_key, document.file.name)
        made = replace(made, document_id=document_id, pushed_ms=_now_ms(),
                       steps=((_now_ms(), f"row inserted, status `{INITIAL_STATUS}`"),))
        ctx.clients.s3.put_object(Bucket=ctx.pipeline.bucket, Key=object_key, Body=document.file.read_bytes(),
                                  ContentType="application/pdf", Metadata={RUN_METADATA: ctx.run_id})
        made = replace(made, object_key=object_key, steps=(*made.steps, (_now_ms(), "uploaded to S3")))
        message_id = _send_trigger(ctx, document_id, object_key)
        sent = "invoked" if message_id.startswith("invoke:") else "trigger message sent"
        return replace(made, message_id=message_id, steps=(*made.steps, (_now_ms(), sent)))
    except PUSH_ERRORS as exc:
        return replace(made, error=_describe(exc))
    except BaseException:
        remove_document(ctx, made)  # interrupted half way: only this frame knows what was made
        raise


def _fetch_logs(ctx: TripContext, start_ms: int) -> logs.LogView | None:
    group = ctx.group
    if group is None:
        return None
    try:
        return logs.fetch(ctx.clients.logs, group, start_ms)
    except logs.LogGroupMissing:
        return None


def _in_dlq(ctx: TripContext, document_id: int) -> bool:
    """Is the document's trigger in the DLQ (SQS gave up on it)? Peeked, so it stays there for DV521."""
    if ctx.dlq_url is None:
        return False
    pattern = logs.document_pattern(document_id)
    return any(ctx.run_id in m.body and pattern.search(m.body) for m in dlq.sample(ctx.clients.sqs, ctx.dlq_url, 10))


@dataclass
class _Watch:
    """What the wait has seen in the logs so far (private to one wait, so mutable)."""

    checked_at: float
    clean_since: float | None = None
    stopped: str | None = None


def _nothing_more_will_happen(ctx: TripContext, pushed: Pushed, row: rows.Row, watch: _Watch, now: float) -> str | None:
    """Why the row can no longer move, read from the logs and the DLQ; None while it still may."""
    assert pushed.document_id is not None
    assert pushed.pushed_ms is not None
    document_id = pushed.document_id
    try:
        view = _fetch_logs(ctx, pushed.pushed_ms - WINDOW_SLACK_MS)
        if view is None:
            return None
        init = view.init_errors()
        if init:
            return f"the worker cannot load its handler: {logs.summarise(init[0])}"
        mine = view.for_document(document_id)
        clean = [i for i in mine if i.report is not None and not logs.problems(i.lines)]
        if clean and row.status == INITIAL_STATUS:
            # SQS deletes the message of an invocation that returned: nothing will ever touch this row again.
            watch.clean_since = watch.clean_since or now
            if now - watch.clean_since >= UNTOUCHED_GRACE_S:
                return (f"invocation {clean[-1].request_id} named document {document_id} and ended without error, "
                        f"but the row is still `{INITIAL_STATUS}`")
        failing = [logs.problems(i.lines) for i in mine if i.report is not None]
        failing = [p for p in failing if p]
        if failing and _in_dlq(ctx, document_id):
            return (f"every delivery failed and SQS moved the trigger to the DLQ; the worker logged "
                    f"`{logs.summarise(failing[-1][0])}`")
    except (ClientError, BotoCoreError):
        return None  # the logs or the DLQ are unreadable right now; the row may still move
    return None


def wait_for_row(ctx: TripContext, pushed: Pushed, file: str) -> RowWaited:
    assert pushed.document_id is not None
    document_id = pushed.document_id
    final, failed = ctx.pipeline.final_status, ctx.pipeline.failed_status
    watch = _Watch(checked_at=time.monotonic())

    changes: list[tuple[int, str]] = []

    def poll() -> tuple[bool, rows.Row | None]:
        row = rows.read_row(ctx.conn, ctx.layout, document_id)
        if row is not None and (not changes or changes[-1][1] != row.status):
            changes.append((_now_ms(), str(row.status)))  # the timeline shows when each status was first seen
        if row is None:
            watch.stopped = "the row was deleted while the suite waited for it"
            return True, None
        if row.status in (final, failed):
            return True, row
        now = time.monotonic()
        if now - watch.checked_at >= LOG_CHECK_EVERY_S:
            watch.checked_at = now
            watch.stopped = _nothing_more_will_happen(ctx, pushed, row, watch, now)
            if watch.stopped:
                return True, row
        return False, row

    expected = f"document {document_id} ({file}) in {ctx.layout.table} to become `{final}`"
    # A document usually settles within a second: poll finely at first (one indexed row read every 50 ms is cheap),
    # then back off gently, so a wait ends close to when the row changes rather than at a coarse step.
    result = wait_for(expected, ctx.pipeline.timeout_s, poll, first_delay_s=0.05, growth=1.25,
                      max_delay_s=ROW_POLL_MAX_S)
    waited = RowWaited(waited_s=round(result.waited_s, 2), timed_out=not result.done, stopped=watch.stopped,
                       changes=tuple(changes))
    row = result.last
    if row is not None:
        waited = replace(waited, status=row.status, document_type=row.document_type, confidence=row.confidence,
                         fields=row.fields, error=redact.redact(row.error) if row.error else None)
    if waited.status != final:
        waited = replace(waited, queue_depth=_queue_depth(ctx, ctx.queue_url), dlq_depth=_queue_depth(ctx, ctx.dlq_url))
    return waited


def _queue_depth(ctx: TripContext, url: str | None) -> str | None:
    if url is None:
        return None
    try:
        return str(dlq.depth(ctx.clients.sqs, url))
    except (ClientError, BotoCoreError) as exc:
        return f"unknown ({_describe(exc)})"


def collect_logs(ctx: TripContext, pushed: Pushed, waited: RowWaited) -> LogsCollected:
    """The invocation(s) that named the document, their REPORT, and what went wrong in its window."""
    group = ctx.group
    if group is None or pushed.document_id is None or pushed.pushed_ms is None:
        return LogsCollected(group=group)
    document_id = pushed.document_id
    start = pushed.pushed_ms - WINDOW_SLACK_MS

    def poll() -> tuple[bool, logs.LogView | None]:
        try:
            view = logs.fetch(ctx.clients.logs, group, start)
        except logs.LogGroupMissing:
            return False, None
        return any(i.report for i in view.for_document(document_id)), view

    # A processed or failed row means the invocation is ending: wait for its REPORT. Otherwise look once.
    timeout = REPORT_WAIT_S if waited.status == ctx.pipeline.final_status else REPORT_WAIT_FAILED_S \
        if waited.status == ctx.pipeline.failed_status else 0.0
    try:
        result = wait_for(f"the REPORT line of document {document_id}'s invocation in {group}", timeout, poll,
                          first_delay_s=0.1, max_delay_s=ROW_POLL_MAX_S, announce=timeout > 0)
    except (ClientError, BotoCoreError) as exc:
        return LogsCollected(group=group, error=_describe(exc))
    view = result.last
    if view is None:
        return LogsCollected(group=group, error=f"log group `{group}` does not exist")
    invocations = []
    problems: list[str] = []
    for invocation in view.for_document(document_id):
        report = invocation.report
        lines = redact.redact_all(invocation.text())
        if len(lines) > MAX_EVIDENCE_LINES:
            lines = [*lines[: MAX_EVIDENCE_LINES // 2], "...", *lines[-MAX_EVIDENCE_LINES // 2:]]
        invocations.append(InvocationEvidence(
            request_id=invocation.request_id, lines=tuple(lines),
            duration_ms=report.duration_ms if report else None, init_ms=report.init_ms if report else None,
            max_memory_mb=report.max_memory_mb if report else None, status=report.status if report else None,
            error_type=report.error_type if report else None,
            started_ms=invocation.started_ms or None,
            ended_ms=invocation.lines[-1].timestamp_ms if invocation.lines else None))
        problems.extend(redact.redact(logs.summarise(p)) for p in logs.problems(invocation.lines))
    return LogsCollected(
        group=group, tail=tuple(redact.redact_all(view.tail(8))), invocations=tuple(invocations),
        problems=tuple(dict.fromkeys(problems)),
        init_errors=tuple(redact.redact_all(dict.fromkeys(logs.summarise(line) for line in view.init_errors()))))


def remove_document(ctx: TripContext, pushed: Pushed) -> str | None:
    """Delete the row and the object this document created; returns what could not be removed, never raises
    (cleanup must not hide the result)."""
    problems = []
    if pushed.document_id is not None:
        try:
            rows.delete_row(ctx.conn, ctx.layout, pushed.document_id, ctx.run_id)
        except psycopg2.Error as exc:
            problems.append(f"row {pushed.document_id}: {db.describe_error(exc)}")
    if pushed.object_key is not None:
        try:
            ctx.clients.s3.delete_object(Bucket=ctx.pipeline.bucket, Key=pushed.object_key)
        except (ClientError, BotoCoreError) as exc:
            problems.append(f"s3://{ctx.pipeline.bucket}/{pushed.object_key}: {_describe(exc)}")
    return "; ".join(problems) or None


def run_document(ctx: TripContext, key: str, document: Document) -> DocumentOutcome:
    started = time.perf_counter()
    pushed, waited, collected, timings = Pushed(), RowWaited(), LogsCollected(), Timings()
    try:
        pushed = push(ctx, document)
        if pushed.sent:
            pushed_at = time.perf_counter()
            waited = wait_for_row(ctx, pushed, str(document.file))
            waited_at = time.perf_counter()
            collected = collect_logs(ctx, pushed, waited)
            timings = Timings(push_s=round(pushed_at - started, 3), wait_s=round(waited_at - pushed_at, 3),
                              logs_s=round(time.perf_counter() - waited_at, 3))
    finally:
        cleanup_error = remove_document(ctx, pushed)
        timings = replace(timings, total_s=round(time.perf_counter() - started, 3))
    return DocumentOutcome(key=key, file=str(document.file), expected_status=ctx.pipeline.final_status,
                           pushed=pushed, row=waited, logs=collected, timings=timings, cleanup_error=cleanup_error)
