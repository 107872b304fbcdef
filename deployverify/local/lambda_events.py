"""What Lambda hands the function and writes around it, as text: the SQS event and the platform's log lines.

Kept apart from the service emulation so that their exact shape (what a handler parses, what a log query matches)
is tested on its own: tests/local/test_local_runtime.py compares them with what AWS produces.
"""

from __future__ import annotations

import math
from typing import Any

from deployverify.local.runtime_api import RuntimeApiInvocation

_SYSTEM_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                      "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for a batch of ReceiveMessage results."""
    records = []
    for message in messages:
        attributes = message.get("Attributes") or {}
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": {k: str(attributes[k]) for k in _SYSTEM_ATTRIBUTES if k in attributes},
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                       "stringListValues": value.get("StringListValues", []),
                       "binaryListValues": value.get("BinaryListValues", []), "dataType": value.get("DataType")}
                for name, value in (message.get("MessageAttributes") or {}).items()},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        for key in ("binaryValue", "stringValue"):
            for value in record["messageAttributes"].values():
                if value[key] is None:
                    del value[key]
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def init_start_line(runtime: str, region: str) -> str:
    return (f"INIT_START Runtime Version: {runtime.replace('python', 'python:')}.local"
            f"\tRuntime Version ARN: arn:aws:lambda:{region}::runtime:deployverify-local")


def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def timed_out_line(timestamp: str, request_id: str, timeout_s: int) -> str:
    return f"{timestamp} {request_id} Task timed out after {timeout_s:.2f} seconds"


def init_report_line(init_ms: float, error_type: str) -> str:
    return f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: {error_type}"


def report_line(invocation: RuntimeApiInvocation, memory_mb: int, used_mb: int | None,
                init_ms: float | None) -> str:
    duration = invocation.duration_ms
    parts = [f"REPORT RequestId: {invocation.request_id}", f"Duration: {duration:.2f} ms",
             f"Billed Duration: {max(1, math.ceil(duration))} ms", f"Memory Size: {memory_mb} MB",
             f"Max Memory Used: {used_mb if used_mb is not None else 0} MB"]
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    if invocation.status == "timeout":
        parts.append("Status: timeout")
    elif invocation.platform_error:
        parts += ["Status: error", f"Error Type: {invocation.platform_error}"]
    return "\t".join(parts)
