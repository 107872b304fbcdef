"""SQS queues as the smoke suite sees them: depth, a sample of what is in them, and removal of a run's messages.

Sampling receives with a visibility timeout of 0, so a sampled message is at once visible again to the worker.
Removal only deletes messages that carry the run id (in the body, or by a message id the run sent); every other
message received along the way is released at once. A message another consumer holds (in flight) cannot be seen
by anyone: removal waits for it, bounded by the queue's visibility timeout, and reports what it could not reach.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deployverify.core import redact
from deployverify.core.waits import wait_for

SAMPLE_CHARS = 300
_DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                     "ApproximateNumberOfMessagesDelayed"]


class QueueMissing(Exception):
    pass


def queue_url(client: Any, queue: str) -> str:
    """A queue given by URL, ARN or name, as its URL."""
    if queue.startswith(("https://", "http://")):
        return queue
    name = queue.rsplit(":", 1)[-1] if queue.startswith("arn:") else queue
    try:
        return str(client.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        if "NonExistentQueue" in str(exc.response.get("Error", {}).get("Code", "")) or \
                "does not exist" in str(exc):
            raise QueueMissing(name) from None
        raise


def queue_name(queue: str) -> str:
    return queue.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def is_fifo(queue: str) -> bool:
    return queue_name(queue).endswith(".fifo")


@dataclass(frozen=True)
class Depth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed

    def __str__(self) -> str:
        extra = [f"{n} {what}" for n, what in ((self.in_flight, "in flight"), (self.delayed, "delayed")) if n]
        return f"{self.visible} visible" + (f" ({', '.join(extra)})" if extra else "")


def depth(client: Any, url: str) -> Depth:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=_DEPTH_ATTRIBUTES)["Attributes"]
    return Depth(int(attributes.get("ApproximateNumberOfMessages", 0)),
                 int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                 int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)))


def visibility_timeout(client: Any, url: str) -> int:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    return int(attributes.get("VisibilityTimeout", 30))


@dataclass(frozen=True)
class Sampled:
    message_id: str
    sent_ms: int | None
    receive_count: int | None
    body: str

    def render(self) -> str:
        body = self.body if len(self.body) <= SAMPLE_CHARS else self.body[:SAMPLE_CHARS] + "..."
        age = f", sent {round((time.time() * 1000 - self.sent_ms) / 1000)}s ago" if self.sent_ms else ""
        count = f", received {self.receive_count}x" if self.receive_count is not None else ""
        return redact.redact(f"message {self.message_id}{age}{count}: {body}")


def _sampled(message: dict[str, Any]) -> Sampled:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    count = attributes.get("ApproximateReceiveCount")
    return Sampled(str(message["MessageId"]), int(sent) if sent else None, int(count) if count else None,
                   str(message.get("Body", "")))


def sample(client: Any, url: str, count: int = 5) -> list[Sampled]:
    """Peek at up to `count` messages without taking them from their consumer."""
    response = client.receive_message(QueueUrl=url, MaxNumberOfMessages=min(max(count, 1), 10), VisibilityTimeout=0,
                                      WaitTimeSeconds=0, AttributeNames=["All"])
    return [_sampled(m) for m in response.get("Messages", [])]


@dataclass
class Sweep:
    deleted: list[str] = field(default_factory=list)
    unreached: list[str] = field(default_factory=list)


def remove_run_messages(client: Any, urls: Collection[str], run_id: str, sent_ids: Collection[str] = (), *,
                        timeout_s: float = 0.0) -> Sweep:
    """Delete every message of the run from these queues; wait up to `timeout_s` for messages still in flight."""
    sweep = Sweep()
    pending = set(sent_ids)

    def ours(message: dict[str, Any]) -> bool:
        return message["MessageId"] in pending or run_id in str(message.get("Body", ""))

    def one_pass() -> tuple[bool, int]:
        for url in urls:
            while True:
                response = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                                  WaitTimeSeconds=0, AttributeNames=["All"])
                messages = response.get("Messages", [])
                if not messages:
                    break
                mine = [m for m in messages if ours(m)]
                others = [m for m in messages if not ours(m)]
                for message in mine:
                    client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    sweep.deleted.append(message["MessageId"])
                    pending.discard(message["MessageId"])
                for message in others:
                    client.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                                     VisibilityTimeout=0)
                if not mine:
                    break  # only other consumers' messages are left in view
        in_flight = sum(depth(client, url).in_flight for url in urls)
        return not pending, in_flight

    done, _ = one_pass()
    if not done and timeout_s > 0:
        result = wait_for(f"{len(pending)} message(s) of run {run_id} still held by the worker to come back",
                          timeout_s, one_pass, first_delay_s=1.0, max_delay_s=5.0)
        done = result.done
    sweep.unreached = sorted(pending)
    return sweep


def find_queue_url(client: Any, queue: str | None) -> str | None:
    """The queue's URL, or None when no queue is named or it cannot be found (for cleanup and optional DLQs)."""
    if not queue:
        return None
    try:
        return queue_url(client, queue)
    except (QueueMissing, ClientError, BotoCoreError):
        return None


def observe(client: Any, queue: str) -> dict[str, Any]:
    """The queue's depth and a sample of its messages as plain data (shared between processes), or why it could
    not be read."""
    try:
        url = queue_url(client, queue)
        found = depth(client, url)
        sampled = [m.render() for m in sample(client, url)] if found.total else []
    except QueueMissing:
        return {"error": f"queue `{queue}` does not exist"}
    except (ClientError, BotoCoreError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"url": url, "count": found.total, "depth": str(found), "sample": sampled}
