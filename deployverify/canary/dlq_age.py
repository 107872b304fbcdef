"""The DLQ against its retention: SQS deletes a parked message when it is older than the queue's retention period
(14 days by default in the seed), so a message nobody reprocesses is lost for good. The canary fails on any parked
message beyond the target's allowance, and says how long the oldest one has left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployverify.canary.operations import oldest_message_age
from deployverify.pipeline import dlq


@dataclass(frozen=True)
class DlqAge:
    queue: str
    depth: int
    oldest_age_s: int
    age_source: str
    retention_s: int

    @property
    def left_s(self) -> int:
        return max(0, self.retention_s - self.oldest_age_s)

    @property
    def retention_percent(self) -> float:
        return 100 * self.oldest_age_s / self.retention_s if self.retention_s else 100.0


def dlq_age(cloudwatch: Any, sqs: Any, queue: str, window_min: int) -> DlqAge:
    url = dlq.queue_url(sqs, queue)
    depth = dlq.depth(sqs, url)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    retention = int(attributes.get("MessageRetentionPeriod", 345600))  # SQS's default: 4 days
    age = oldest_message_age(cloudwatch, sqs, url, window_min) if depth.total else None
    return DlqAge(queue=dlq.queue_name(url), depth=depth.total, oldest_age_s=age.age_s if age else 0,
                  age_source=age.source if age else "the queue is empty", retention_s=retention)
