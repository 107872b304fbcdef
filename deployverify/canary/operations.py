"""What the nightly canary looks at besides the smoke suite: the function's recent errors and the queue's backlog.

Both read CloudWatch metrics (AWS/Lambda Errors and Throttles; AWS/SQS ApproximateAgeOfOldestMessage). SQS only
publishes its metric every few minutes, so the queue is also peeked directly: the oldest message's SentTimestamp
gives its age now.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from deployverify.pipeline import dlq

PERIOD_S = 60


@dataclass(frozen=True)
class MetricSums:
    errors: float
    throttles: float
    datapoints: int

    @property
    def bad(self) -> bool:
        return self.errors > 0 or self.throttles > 0


def _window(window_min: int) -> tuple[dt.datetime, dt.datetime]:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)  # the current minute's datapoint is still filling
    return end - dt.timedelta(minutes=window_min + 1), end


def _datapoints(cloudwatch: Any, namespace: str, metric: str, dimensions: list[dict[str, str]], window_min: int,
                statistic: str) -> list[dict[str, Any]]:
    start, end = _window(window_min)
    response = cloudwatch.get_metric_statistics(Namespace=namespace, MetricName=metric, Dimensions=dimensions,
                                                StartTime=start, EndTime=end, Period=PERIOD_S,
                                                Statistics=[statistic])
    points: list[dict[str, Any]] = response.get("Datapoints", [])
    return points


def lambda_errors(cloudwatch: Any, function_name: str, window_min: int) -> MetricSums:
    dimensions = [{"Name": "FunctionName", "Value": function_name}]
    errors = _datapoints(cloudwatch, "AWS/Lambda", "Errors", dimensions, window_min, "Sum")
    throttles = _datapoints(cloudwatch, "AWS/Lambda", "Throttles", dimensions, window_min, "Sum")
    return MetricSums(errors=sum(float(p.get("Sum", 0)) for p in errors),
                      throttles=sum(float(p.get("Sum", 0)) for p in throttles),
                      datapoints=len(errors) + len(throttles))


@dataclass(frozen=True)
class QueueAge:
    age_s: int
    source: str  # where the age came from: the metric, or a message peeked in the queue
    message_id: str | None = None


def oldest_message_age(cloudwatch: Any, sqs: Any, queue_url: str, window_min: int) -> QueueAge:
    name = dlq.queue_name(queue_url)
    points = _datapoints(cloudwatch, "AWS/SQS", "ApproximateAgeOfOldestMessage",
                         [{"Name": "QueueName", "Value": name}], window_min, "Maximum")
    if points:
        # The metric answers without touching the queue. Peeking (ReceiveMessage) raises each message's receive
        # count, which on a trigger queue with a low maxReceiveCount could dead-letter live work: the canary only
        # peeks where no metric exists (an endpoint without SQS metrics, a queue younger than a metric period).
        metric_age = max(float(p.get("Maximum", 0)) for p in points)
        return QueueAge(int(metric_age), f"AWS/SQS ApproximateAgeOfOldestMessage (max over {window_min} min)")
    peeked = dlq.sample(sqs, queue_url, count=10)
    now_ms = time.time() * 1000
    ages = [((now_ms - m.sent_ms) / 1000, m.message_id) for m in peeked if m.sent_ms]
    if ages:
        oldest = max(ages)
        return QueueAge(int(oldest[0]), "SentTimestamp of a message peeked in the queue (no metric was published; "
                                        "the peek raised its receive count by one)", oldest[1])
    return QueueAge(0, "the queue is empty and no metric was published")
