"""Parked DLQ messages: list them, and move them back to the queue they came from, each exactly once.

SQS's own message-move task (StartMessageMoveTask) is used where the endpoint has it and no `--max` is asked for
(the task cannot stop after N messages). Otherwise messages move one by one: receive -> send -> delete, with every
step appended (and fsynced) to a journal file first, so a run killed at any point and run again moves every message
exactly once:

- `received` then killed before the copy was sent: the copy may or may not have reached SQS (a send whose answer
  was lost). The re-run looks for the copy in the destination (each copy carries the DLQ message id in a message
  attribute); found: the original is only deleted; not found: it is released and sent again.
- `sent` then killed before the delete: the re-run deletes the original (by its receipt handle, or by id when it
  comes round again) and never sends it twice.
The one gap SQS leaves open: a copy that a consumer already took off the destination before the re-run looked is
invisible to the look, so it is sent again; the worker's per-document status makes that second delivery a no-op.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from deployverify.core import redact

# The message attribute each copy carries: the id of the DLQ message it copies.
ORIGIN_ATTRIBUTE = "dv-redrive-origin"
# How long a received DLQ message stays hidden while this process moves it.
HOLD_S = 60
# Test hook: `stage:n` kills this process (SIGKILL, no cleanup) the n-th time it reaches `stage`.
CRASH_ENV = "DV_REDRIVE_KILL_AT"
STAGES = ("received", "sent-unjournaled", "sent", "deleted")


@dataclass(frozen=True)
class Parked:
    message_id: str
    age_s: int | None
    receive_count: int | None
    document: str | None
    body: str

    def render(self) -> str:
        age = f"{self.age_s}s" if self.age_s is not None else "?"
        count = self.receive_count if self.receive_count is not None else "?"
        return redact.redact(f"{self.message_id}  age {age}  received {count}x  document {self.document or '-'}  "
                             f"body {self.body[:200]}")


def document_of(body: str) -> str | None:
    """The document a message concerns, when its body is the trigger's JSON ({"document_id": ...})."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("document_id", "documentId", "id"):
            if key in data:
                return str(data[key])
    return None


def _parked(message: dict[str, Any], now_ms: float) -> Parked:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    count = attributes.get("ApproximateReceiveCount")
    body = str(message.get("Body", ""))
    return Parked(str(message["MessageId"]), round((now_ms - int(sent)) / 1000) if sent else None,
                  int(count) if count else None, document_of(body), body)


def _receive(sqs: Any, url: str, hold_s: int, count: int = 10) -> list[dict[str, Any]]:
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=max(1, min(count, 10)), VisibilityTimeout=hold_s,
                                   WaitTimeSeconds=0, AttributeNames=["All"], MessageAttributeNames=["All"])
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return messages


def _release(sqs: Any, url: str, handles: list[str]) -> None:
    for handle in handles:
        with contextlib.suppress(ClientError):  # its hold already ran out: it is visible anyway
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)


def show(sqs: Any, url: str, limit: int = 100) -> list[Parked]:
    """Every parked message (up to `limit`), oldest first. Each is held briefly while listed, then released."""
    seen: dict[str, Parked] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            messages = _receive(sqs, url, hold_s=30, count=limit - len(seen))
            if not messages:
                break
            now_ms = time.time() * 1000
            for message in messages:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], _parked(message, now_ms))
    finally:
        _release(sqs, url, handles)
    return sorted(seen.values(), key=lambda p: -(p.age_s or 0))


class Journal:
    """One JSON line per step of one message's move, fsynced before the next step starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, dict[str, str]] = {}  # DLQ message id -> {"step": ..., "handle": ...}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.state.setdefault(entry["id"], {}).update(entry)

    def record(self, message_id: str, step: str, **extra: str) -> None:
        entry = {"id": message_id, "step": step, **extra}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.state.setdefault(message_id, {}).update(entry)

    def step(self, message_id: str) -> str | None:
        return self.state.get(message_id, {}).get("step")

    def unfinished(self) -> dict[str, dict[str, str]]:
        return {mid: entry for mid, entry in self.state.items() if entry["step"] != "deleted"}


def _crash_hook() -> Callable[[str], None]:
    wanted = os.environ.get(CRASH_ENV, "")
    stage, _, times = wanted.partition(":")
    counts = {"n": 0}

    def reached(where: str) -> None:
        if where == stage:
            counts["n"] += 1
            if counts["n"] >= int(times or 1):
                os.kill(os.getpid(), signal.SIGKILL)

    return reached


@dataclass
class Redrive:
    method: str
    moved: list[str] = field(default_factory=list)  # DLQ message ids sent to the destination by this run
    finished: list[str] = field(default_factory=list)  # ids an earlier, interrupted run had already sent
    would_move: list[Parked] = field(default_factory=list)  # --dry-run
    # Messages someone else holds (or a run killed between receiving and journaling): they come back after their
    # visibility timeout and move on the next redrive.
    held_elsewhere: int = 0


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def try_move_task(sqs: Any, dlq_url: str, destination_url: str) -> str | None:
    """Start SQS's message-move task; None when the endpoint does not have it (moto, older regions)."""
    try:
        response = sqs.start_message_move_task(SourceArn=queue_arn(sqs, dlq_url),
                                               DestinationArn=queue_arn(sqs, destination_url))
    except (ClientError, NotImplementedError) as exc:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
                "AccessDenied", "AccessDeniedException"):
            raise
        return None
    return str(response.get("TaskHandle", ""))


def _copies_in(sqs: Any, url: str) -> set[str]:
    """Origin ids of the redriven copies now visible in the destination (each held briefly, then released)."""
    origins: set[str] = set()
    handles: list[str] = []
    try:
        while messages := _receive(sqs, url, hold_s=30):
            for message in messages:
                handles.append(message["ReceiptHandle"])
                origin = message.get("MessageAttributes", {}).get(ORIGIN_ATTRIBUTE, {}).get("StringValue")
                if origin:
                    origins.add(origin)
    finally:
        _release(sqs, url, handles)
    return origins


def _delete(sqs: Any, url: str, handle: str) -> bool:
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    except ClientError:
        return False  # a stale handle: the message comes round again and is deleted by id then
    return True


def _recover(sqs: Any, dlq_url: str, destination_url: str, journal: Journal, result: Redrive) -> None:
    unfinished = journal.unfinished()
    if not unfinished:
        return
    landed = _copies_in(sqs, destination_url) if any(e["step"] == "received" for e in unfinished.values()) else set()
    for message_id, entry in unfinished.items():
        if entry["step"] == "received" and message_id in landed:
            journal.record(message_id, "sent", copy="found in the destination")
        if journal.step(message_id) == "sent":
            result.finished.append(message_id)
            if _delete(sqs, dlq_url, entry["handle"]):
                journal.record(message_id, "deleted")
        else:
            _release(sqs, dlq_url, [entry["handle"]])


def _send_copy(sqs: Any, destination_url: str, message: dict[str, Any]) -> str:
    attributes = dict(message.get("MessageAttributes", {}))
    attributes[ORIGIN_ATTRIBUTE] = {"DataType": "String", "StringValue": message["MessageId"]}
    kwargs: dict[str, Any] = {"QueueUrl": destination_url, "MessageBody": message["Body"],
                              "MessageAttributes": attributes}
    if destination_url.endswith(".fifo"):
        group = message.get("Attributes", {}).get("MessageGroupId", "redrive")
        kwargs |= {"MessageGroupId": group, "MessageDeduplicationId": message["MessageId"]}
    return str(sqs.send_message(**kwargs)["MessageId"])


def redrive(sqs: Any, dlq_url: str, destination_url: str, journal_path: Path, *, limit: int | None = None,
            dry_run: bool = False, method: str = "auto") -> Redrive:
    """Move parked messages back; `method` is auto (the move task where it exists), move-task or manual."""
    if dry_run:
        return Redrive("dry run", would_move=show(sqs, dlq_url, limit or 1000))
    journal = Journal(journal_path)
    if method in ("auto", "move-task") and limit is None and not journal.unfinished():
        handle = try_move_task(sqs, dlq_url, destination_url)
        if handle is not None:
            return Redrive(f"SQS message-move task {handle}")
        if method == "move-task":
            raise RuntimeError("the endpoint has no StartMessageMoveTask; use --method manual")
    result = Redrive(f"receive -> send -> delete (journal {journal_path})")
    crash = _crash_hook()
    _recover(sqs, dlq_url, destination_url, journal, result)
    while limit is None or len(result.moved) < limit:
        messages = _receive(sqs, dlq_url, HOLD_S, 10 if limit is None else limit - len(result.moved))
        if not messages:
            break
        # The whole batch is journaled before any of it moves: a kill mid-batch leaves no message hidden for the
        # hold's length without a handle the re-run can release it with.
        fresh = [m for m in messages if journal.step(m["MessageId"]) not in ("sent", "deleted")]
        for message in fresh:
            journal.record(message["MessageId"], "received", handle=message["ReceiptHandle"])
        for message in messages:
            message_id, handle = message["MessageId"], message["ReceiptHandle"]
            if message not in fresh:  # sent by an interrupted run; only delete it
                if _delete(sqs, dlq_url, handle):
                    journal.record(message_id, "deleted")
                continue
            crash("received")
            copy_id = _send_copy(sqs, destination_url, message)
            crash("sent-unjournaled")
            journal.record(message_id, "sent", copy=copy_id)
            crash("sent")
            result.moved.append(message_id)
            if _delete(sqs, dlq_url, handle):
                journal.record(message_id, "deleted")
            crash("deleted")
    result.held_elsewhere = int(sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"].get(
        "ApproximateNumberOfMessagesNotVisible", 0))
    if not journal.unfinished():
        journal_path.unlink(missing_ok=True)  # everything moved: a later redrive starts clean
    return result
