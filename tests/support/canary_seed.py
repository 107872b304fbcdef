"""Data the canary's tests seed on purpose: status rows of a given age, AWS/Lambda datapoints, REPORT and timeout
lines in the function's log group, parked DLQ messages, EventBridge rules. Every row seeded here is a "service" row
(no run_id), as production's are; `clear_service_rows` removes them between tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{name}"


def add_rows(database: Any, status: str, count: int, *, age_s: float, user_email: str = "canary-seed@test.com") -> None:
    """`count` documents in `status`, last updated `age_s` seconds ago, owned by one seed user."""
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (email) VALUES (%s) ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email "
                    "RETURNING id", (user_email,))
        user = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO documents (user_id, s3_key, original_filename, status, created_at, updated_at) "
            "SELECT %s, 'seed/' || g || '.pdf', 'seed.pdf', %s, now() - make_interval(secs => %s), "
            "now() - make_interval(secs => %s) FROM generate_series(1, %s) AS g",
            (user, status, age_s, age_s, count))


def clear_service_rows(database: Any) -> None:
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM documents WHERE run_id IS NULL")
        cur.execute("DELETE FROM users WHERE run_id IS NULL AND email = 'canary-seed@test.com'")


def lambda_metrics(cloudwatch: Any, function: str, **values: float | Sequence[float]) -> None:
    """AWS/Lambda datapoints for one function, now: `Invocations=100, Errors=2, Duration=[...]`."""
    data = []
    for metric, value in values.items():
        for one in (value if isinstance(value, list | tuple) else [value]):
            data.append({"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": function}],
                         "Value": float(one), "Unit": "Milliseconds" if metric == "Duration" else "Count"})
    for start in range(0, len(data), 500):  # put_metric_data takes at most 1000 datapoints a call
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data[start:start + 500])


def report_lines(logs: Any, group: str, durations_ms: Sequence[float], *, timed_out: int = 0,
                 memory_mb: int = 1024, spread_s: float = 0) -> None:
    """One REPORT line per duration (and `timed_out` "Task timed out" lines), spread over the last `spread_s`
    seconds, in a stream of their own."""
    stream = f"2026/01/01/[$LATEST]{uuid.uuid4().hex}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000) - 1000
    count = len(durations_ms) + timed_out
    events = []
    for i in range(count):
        stamp = now - int(spread_s * 1000 * (count - i) / max(count, 1))
        request = str(uuid.uuid4())
        if i < timed_out:
            message = f"2026-01-01T00:00:00.000Z {request} Task timed out after 900.00 seconds"
        else:
            duration = durations_ms[i - timed_out]
            message = (f"REPORT RequestId: {request}\tDuration: {duration:.2f} ms\tBilled Duration: "
                       f"{int(duration) + 1} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: 90 MB")
        events.append({"timestamp": stamp, "message": message})
    for start in range(0, len(events), 5000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[start:start + 5000])


def schedule_rule(events: Any, name: str, expression: str, function: str, *, enabled: bool = True) -> None:
    events.put_rule(Name=name, ScheduleExpression=expression, State="ENABLED" if enabled else "DISABLED")
    events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": LAMBDA_ARN.format(name=function)}])


def park(sqs: Any, dlq_url: str, body: str = '{"document_id": 7}') -> None:
    sqs.send_message(QueueUrl=dlq_url, MessageBody=body, MessageGroupId="parked",
                     MessageDeduplicationId=uuid.uuid4().hex)
