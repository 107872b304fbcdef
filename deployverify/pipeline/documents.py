"""One fixture document through the deployed pipeline: row, upload, trigger, wait, evidence, and its removal.

For each document: insert its row for the test user with status `uploaded` (tagged with the run id), upload the
file under `<key_prefix>/<run id>/`, send the trigger (an SQS message, FIFO group and dedup id per document, or an
asynchronous Lambda invoke), then poll the row with backoff until it reaches the final or the failed status or the
target's timeout. Two things end the wait early, because nothing more can happen: the worker cannot load its
handler (`Runtime.ImportModuleError` and kin in the logs), or an invocation that named the document ended cleanly
while the row never moved (the mock incident: success reported, nothing done). Then the invocation's log lines are
collected as evidence, and the row and the object are removed, whatever happened.

An `Outcome` is plain data (JSON), so the process that ran a document can hand it to the others.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from deployverify.core import redact
from deployverify.core.waits import wait_for
from deployverify.pipeline import db, dlq, logs
from deployverify.target.model import Document, Expectation, Pipeline, Target

INITIAL_STATUS = "uploaded"
RUN_COLUMN = "run_id"
KEY_COLUMNS = ("s3_key", "object_key", "file_key", "storage_key")
FILENAME_COLUMNS = ("original_filename", "filename", "file_name")
RUN_METADATA = "deployverify-run-id"
ROW_POLL_MAX_S = 0.5  # the row query is one indexed lookup: poll often, the overshoot is harness overhead
LOG_CHECK_EVERY_S = 1.0
REPORT_WAIT_S = 30.0  # CloudWatch Logs may lag the row by a few seconds
REPORT_WAIT_FAILED_S = 5.0
UNTOUCHED_GRACE_S = 1.0  # the row is written before the handler returns; REPORT comes after
WINDOW_SLACK_MS = 5000
MAX_EVIDENCE_LINES = 60


@dataclass(frozen=True)
class RowLayout:
    table: str
    id: str
    status: str
    type: str
    confidence: str
    fields: str
    error: str
    run: str
    owner: str | None = None
    key: str | None = None
    filename: str | None = None


def required_columns(pipeline: Pipeline) -> list[str]:
    """Columns the suite reads or writes: the target's status and result columns and the run id tag."""
    names = [pipeline.id_column, pipeline.status_column, pipeline.type_column, pipeline.confidence_column,
             pipeline.fields_column, pipeline.error_column, RUN_COLUMN]
    return list(dict.fromkeys(names))


def row_layout(conn: Connection, pipeline: Pipeline, user_table: str | None) -> RowLayout:
    columns = db.table_columns(conn, pipeline.status_table) or set()
    return RowLayout(
        table=pipeline.status_table, id=pipeline.id_column, status=pipeline.status_column,
        type=pipeline.type_column, confidence=pipeline.confidence_column, fields=pipeline.fields_column,
        error=pipeline.error_column, run=RUN_COLUMN,
        owner=db.foreign_key_to(conn, pipeline.status_table, user_table) if user_table else None,
        key=next((c for c in KEY_COLUMNS if c in columns), None),
        filename=next((c for c in FILENAME_COLUMNS if c in columns), None))


def _table(name: str) -> sql.Composable:
    return sql.Identifier(*[p.strip().strip('"') for p in name.split(".")])


def document_keys(pipeline: Pipeline) -> list[str]:
    """A stable, unique name per listed document (its file name; repeated files get #2, #3...)."""
    seen: dict[str, int] = {}
    keys = []
    for document in pipeline.documents:
        name = document.file.name
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


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


@dataclass
class Context:
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


@dataclass
class InvocationEvidence:
    request_id: str
    lines: list[str]
    duration_ms: float | None = None
    init_ms: float | None = None
    max_memory_mb: int | None = None
    status: str | None = None
    error_type: str | None = None


@dataclass
class Outcome:
    key: str
    file: str
    expected_status: str
    document_id: int | None = None
    object_key: str | None = None
    message_id: str | None = None
    pushed_ms: int | None = None
    status: str | None = None
    document_type: str | None = None
    confidence: float | None = None
    fields: Any = None
    error: str | None = None
    waited_s: float = 0.0
    timed_out: bool = False
    stopped: str | None = None  # why the wait ended before the row moved
    push_error: str | None = None
    queue_depth: str | None = None
    dlq_depth: str | None = None
    log_group: str | None = None
    log_error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    invocations: list[InvocationEvidence] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # Runtime.* errors and tracebacks of its invocations
    init_errors: list[str] = field(default_factory=list)  # handler load failures in its window
    timings: dict[str, float] = field(default_factory=dict)
    cleanup_error: str | None = None

    @property
    def reached(self) -> bool:
        return self.status == self.expected_status

    @property
    def consumed(self) -> bool:
        """The trigger is gone: the document is done, or an invocation for it ended without error (SQS deletes the
        message then, whatever the handler did)."""
        return self.reached or any(i.duration_ms is not None and i.status is None and i.error_type is None
                                   and not any(logs.PROBLEM.search(line) for line in i.lines)
                                   for i in self.invocations)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        raw = dict(data)
        raw["invocations"] = [InvocationEvidence(**i) for i in raw.get("invocations", [])]
        return cls(**raw)

    def worker_ms(self) -> float | None:
        """The worker's own time for this document: the REPORT duration of the invocation(s) that named it."""
        durations = [i.duration_ms for i in self.invocations if i.duration_ms is not None]
        return sum(durations) if durations else None


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


def push(ctx: Context, document: Document, outcome: Outcome) -> None:
    """Row, object, trigger. Raises on the first failure; what was made so far is recorded in `outcome`."""
    layout = ctx.layout
    object_key = f"{ctx.pipeline.key_prefix.strip('/')}/{ctx.run_id}/{uuid.uuid4().hex[:8]}-{document.file.name}"
    columns: list[tuple[str, Any]] = [(layout.status, INITIAL_STATUS), (layout.run, ctx.run_id)]
    if layout.owner:
        columns.append((layout.owner, ctx.user_id))
    if layout.key:
        columns.append((layout.key, object_key))
    if layout.filename:
        columns.append((layout.filename, document.file.name))
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        _table(layout.table), sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns),
        sql.SQL(", ").join(sql.Placeholder() for _ in columns), sql.Identifier(layout.id))
    with ctx.conn.cursor() as cur:
        cur.execute(query, [v for _, v in columns])
        row = cur.fetchone()
    assert row is not None
    outcome.document_id = int(row[0])
    outcome.pushed_ms = int(time.time() * 1000)

    ctx.clients.s3.put_object(Bucket=ctx.pipeline.bucket, Key=object_key, Body=document.file.read_bytes(),
                              ContentType="application/pdf", Metadata={RUN_METADATA: ctx.run_id})
    outcome.object_key = object_key

    values = {"document_id": outcome.document_id, "run_id": ctx.run_id, "bucket": ctx.pipeline.bucket,
              "key": object_key, "user_id": ctx.user_id}
    body = json.dumps(_message(ctx.pipeline.trigger.message, values))
    trigger = ctx.pipeline.trigger
    if trigger.type == "invoke":
        name = trigger.function or function_name(ctx.target)
        ctx.clients.lambda_.invoke(FunctionName=name, InvocationType="Event", Payload=body.encode())
        outcome.message_id = f"invoke:{outcome.document_id}"
        return
    assert ctx.queue_url is not None
    kwargs: dict[str, Any] = {"QueueUrl": ctx.queue_url, "MessageBody": body,
                              "MessageAttributes": {RUN_METADATA: {"DataType": "String", "StringValue": ctx.run_id}}}
    if dlq.is_fifo(ctx.queue_url):
        # One group per document: documents of a run are processed in parallel, and a re-run is not deduplicated.
        kwargs["MessageGroupId"] = f"{ctx.run_id}-{outcome.document_id}"
        kwargs["MessageDeduplicationId"] = f"{ctx.run_id}-{outcome.document_id}"
    outcome.message_id = str(ctx.clients.sqs.send_message(**kwargs)["MessageId"])


@dataclass
class _Row:
    status: str | None
    document_type: str | None
    confidence: float | None
    fields: Any
    error: str | None


def read_row(ctx: Context, document_id: int) -> _Row | None:
    layout = ctx.layout
    query = sql.SQL("SELECT {}, {}, {}, {}, {} FROM {} WHERE {} = %s").format(
        *(sql.Identifier(c) for c in (layout.status, layout.type, layout.confidence, layout.fields, layout.error)),
        _table(layout.table), sql.Identifier(layout.id))
    with ctx.conn.cursor() as cur:
        cur.execute(query, (document_id,))
        row = cur.fetchone()
    if row is None:
        return None
    fields = row[3]
    if isinstance(fields, str):
        with contextlib.suppress(json.JSONDecodeError):
            fields = json.loads(fields)
    confidence = float(row[2]) if row[2] is not None else None
    return _Row(row[0], row[1], confidence, fields, row[4])


def _fetch_logs(ctx: Context, start_ms: int) -> logs.LogView | None:
    group = ctx.group
    if group is None:
        return None
    try:
        return logs.fetch(ctx.clients.logs, group, start_ms)
    except logs.LogGroupMissing:
        return None


def _in_dlq(ctx: Context, document_id: int) -> bool:
    """Is the document's trigger in the DLQ (SQS gave up on it)? Peeked, so it stays there for DV521."""
    if ctx.dlq_url is None:
        return False
    pattern = logs.document_pattern(document_id)
    return any(ctx.run_id in m.body and pattern.search(m.body) for m in dlq.sample(ctx.clients.sqs, ctx.dlq_url, 10))


@dataclass
class _Watch:
    """What the wait has seen in the logs so far."""

    checked_at: float
    clean_since: float | None = None


def _nothing_more_will_happen(ctx: Context, outcome: Outcome, row: _Row, watch: _Watch, now: float) -> str | None:
    """Why the row can no longer move, read from the logs and the DLQ; None while it still may."""
    assert outcome.document_id is not None
    assert outcome.pushed_ms is not None
    document_id = outcome.document_id
    try:
        view = _fetch_logs(ctx, outcome.pushed_ms - WINDOW_SLACK_MS)
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


def wait_for_row(ctx: Context, outcome: Outcome) -> None:
    assert outcome.document_id is not None
    document_id = outcome.document_id
    final, failed = ctx.pipeline.final_status, ctx.pipeline.failed_status
    watch = _Watch(checked_at=time.monotonic())

    def poll() -> tuple[bool, _Row | None]:
        row = read_row(ctx, document_id)
        if row is None:
            outcome.stopped = "the row was deleted while the suite waited for it"
            return True, None
        if row.status in (final, failed):
            return True, row
        now = time.monotonic()
        if now - watch.checked_at >= LOG_CHECK_EVERY_S:
            watch.checked_at = now
            outcome.stopped = _nothing_more_will_happen(ctx, outcome, row, watch, now)
            if outcome.stopped:
                return True, row
        return False, row

    expected = f"document {document_id} ({outcome.file}) in {ctx.layout.table} to become `{final}`"
    # A document usually settles within a second: poll finely at first (one indexed row read every 50 ms is cheap),
    # then back off gently, so a wait ends close to when the row changes rather than at a coarse step.
    result = wait_for(expected, ctx.pipeline.timeout_s, poll, first_delay_s=0.05, growth=1.25,
                      max_delay_s=ROW_POLL_MAX_S)
    outcome.waited_s = round(result.waited_s, 2)
    outcome.timed_out = not result.done
    row = result.last
    if row is not None:
        outcome.status, outcome.document_type, outcome.confidence = row.status, row.document_type, row.confidence
        outcome.fields, outcome.error = row.fields, redact.redact(row.error) if row.error else None
    if not outcome.reached:
        _record_queues(ctx, outcome)


def _record_queues(ctx: Context, outcome: Outcome) -> None:
    for url, attribute in ((ctx.queue_url, "queue_depth"), (ctx.dlq_url, "dlq_depth")):
        if url is None:
            continue
        try:
            setattr(outcome, attribute, str(dlq.depth(ctx.clients.sqs, url)))
        except (ClientError, BotoCoreError) as exc:
            setattr(outcome, attribute, f"unknown ({_describe(exc)})")


def collect_logs(ctx: Context, outcome: Outcome) -> None:
    """The invocation(s) that named the document, their REPORT, and what went wrong in its window."""
    group = ctx.group
    outcome.log_group = group
    if group is None or outcome.document_id is None or outcome.pushed_ms is None:
        return
    document_id = outcome.document_id
    start = outcome.pushed_ms - WINDOW_SLACK_MS

    def poll() -> tuple[bool, logs.LogView | None]:
        try:
            view = logs.fetch(ctx.clients.logs, group, start)
        except logs.LogGroupMissing:
            return False, None
        return any(i.report for i in view.for_document(document_id)), view

    # A processed or failed row means the invocation is ending: wait for its REPORT. Otherwise look once.
    timeout = REPORT_WAIT_S if outcome.reached else REPORT_WAIT_FAILED_S if outcome.status == \
        ctx.pipeline.failed_status else 0.0
    try:
        result = wait_for(f"the REPORT line of document {document_id}'s invocation in {group}", timeout, poll,
                          first_delay_s=0.1, max_delay_s=ROW_POLL_MAX_S, announce=timeout > 0)
    except (ClientError, BotoCoreError) as exc:
        outcome.log_error = _describe(exc)
        return
    view = result.last
    if view is None:
        outcome.log_error = f"log group `{group}` does not exist"
        return
    invocations = view.for_document(document_id)
    for invocation in invocations:
        report = invocation.report
        lines = redact.redact_all(invocation.text())
        if len(lines) > MAX_EVIDENCE_LINES:
            lines = [*lines[: MAX_EVIDENCE_LINES // 2], "...", *lines[-MAX_EVIDENCE_LINES // 2:]]
        outcome.invocations.append(InvocationEvidence(
            request_id=invocation.request_id, lines=lines,
            duration_ms=report.duration_ms if report else None, init_ms=report.init_ms if report else None,
            max_memory_mb=report.max_memory_mb if report else None, status=report.status if report else None,
            error_type=report.error_type if report else None))
        outcome.problems.extend(redact.redact(logs.summarise(p)) for p in logs.problems(invocation.lines))
    outcome.problems = list(dict.fromkeys(outcome.problems))
    outcome.init_errors = redact.redact_all(dict.fromkeys(logs.summarise(line) for line in view.init_errors()))
    outcome.log_tail = redact.redact_all(view.tail(8))


def remove_document(ctx: Context, outcome: Outcome) -> None:
    """Delete the row and the object this document created; never raises (cleanup must not hide the result)."""
    problems = []
    if outcome.document_id is not None:
        try:
            with ctx.conn.cursor() as cur:
                cur.execute(sql.SQL("DELETE FROM {} WHERE {} = %s AND {} = %s").format(
                    _table(ctx.layout.table), sql.Identifier(ctx.layout.id), sql.Identifier(ctx.layout.run)),
                    (outcome.document_id, ctx.run_id))
        except psycopg2.Error as exc:
            problems.append(f"row {outcome.document_id}: {db.describe_error(exc)}")
    if outcome.object_key is not None:
        try:
            ctx.clients.s3.delete_object(Bucket=ctx.pipeline.bucket, Key=outcome.object_key)
        except (ClientError, BotoCoreError) as exc:
            problems.append(f"s3://{ctx.pipeline.bucket}/{outcome.object_key}: {_describe(exc)}")
    outcome.cleanup_error = "; ".join(problems) or None


def run_document(ctx: Context, key: str, document: Document) -> Outcome:
    outcome = Outcome(key=key, file=str(document.file), expected_status=ctx.pipeline.final_status)
    started = time.perf_counter()
    try:
        try:
            push(ctx, document, outcome)
        except (ClientError, BotoCoreError, psycopg2.Error, OSError) as exc:
            outcome.push_error = _describe(exc)
            return outcome
        pushed = time.perf_counter()
        outcome.timings["push_s"] = round(pushed - started, 3)
        wait_for_row(ctx, outcome)
        waited = time.perf_counter()
        outcome.timings["wait_s"] = round(waited - pushed, 3)
        collect_logs(ctx, outcome)
        outcome.timings["logs_s"] = round(time.perf_counter() - waited, 3)
    finally:
        remove_document(ctx, outcome)
        outcome.timings["total_s"] = round(time.perf_counter() - started, 3)
    return outcome


# -- judging an outcome -----------------------------------------------------------------------------------------------


def not_reached_fix(outcome: Outcome) -> str:
    """What to look at when a document did not reach its final status: the cause the evidence points to."""
    if outcome.stopped:
        return outcome.stopped
    if outcome.status == "failed" and outcome.error:
        return f"the worker stored the error `{outcome.error}`"
    if outcome.init_errors:
        return f"the worker logged `{outcome.init_errors[0]}`"
    if outcome.problems:
        return f"the worker logged `{outcome.problems[-1]}`"
    if outcome.log_tail:
        return f"the worker's log ends: `{logs.first_line(outcome.log_tail[-1])}`"
    if outcome.log_error:
        return f"no worker logs ({outcome.log_error}): is the function subscribed to the queue?"
    return "nothing consumed the trigger: check the event source mapping and the worker's logs"


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected == actual)
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
    if expected is None or actual is None:
        return expected is actual
    return str(expected) == str(actual)


def result_problems(outcome: Outcome, expect: Expectation) -> list[str]:
    """Why a processed row does not carry the real result it should; empty when it does."""
    found: list[str] = []
    fields = outcome.fields if isinstance(outcome.fields, Mapping) else {}
    if not outcome.document_type:
        return [f"is `{outcome.status}` with no classification" + ("" if fields else " and no extracted fields")]
    if expect.type is not None and outcome.document_type != expect.type:
        found.append(f"was classified as `{outcome.document_type}`, expected `{expect.type}`")
    if expect.min_confidence is not None:
        if outcome.confidence is None:
            found.append(f"has no confidence (expected at least {expect.min_confidence})")
        elif outcome.confidence < expect.min_confidence:
            found.append(f"has confidence {outcome.confidence:.2f}, below {expect.min_confidence}")
    for name, wanted in expect.fields.items():
        if name not in fields:
            found.append(f"lacks the field `{name}` (expected `{wanted}`)")
        elif not _same(wanted, fields[name]):
            found.append(f"has `{name}` = `{fields[name]}`, expected `{wanted}`")
    return found


def evidence(outcome: Outcome) -> list[str]:
    lines = [f"document {outcome.document_id} ({Path(outcome.file).name}): status `{outcome.status}` after "
             f"{outcome.waited_s}s; type `{outcome.document_type}`, confidence {outcome.confidence}"]
    if outcome.object_key:
        lines.append(f"object key: {outcome.object_key}; trigger message: {outcome.message_id}")
    if outcome.queue_depth is not None or outcome.dlq_depth is not None:
        lines.append(f"queue: {outcome.queue_depth}; DLQ: {outcome.dlq_depth}")
    if outcome.error:
        lines.append(f"error column: {outcome.error}")
    if outcome.cleanup_error:
        lines.append(f"cleanup problem: {outcome.cleanup_error}")
    return lines


def unfinished_message_ids(outcomes: Sequence[Outcome]) -> list[str]:
    """Trigger messages that may still be in a queue: their document never reached its final status."""
    return [o.message_id for o in outcomes if o.message_id and not o.message_id.startswith("invoke:")
            and not o.consumed]


# -- removing what the run left behind -------------------------------------------------------------------------------


def remove_run_objects(s3: Any, bucket: str, prefix: str, run_id: str) -> int:
    """Delete every object under `<prefix>/<run id>/`: only this run writes there."""
    removed = 0
    run_prefix = f"{prefix.strip('/')}/{run_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=run_prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed


def remove_run_rows(conn: Connection, pipeline: Pipeline, run_id: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(_table(pipeline.status_table),
                                                                   sql.Identifier(RUN_COLUMN)), (run_id,))
        return int(cur.rowcount)
