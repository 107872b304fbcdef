"""The local event source mapping: poll the trigger queue and invoke the real handler the way Lambda does.

`python -m deployverify.local STATE_FILE FUNCTION_NAME` runs it detached (started by `deployverify local up`):

- receives up to BatchSize messages from the function's SQS queue (long poll) and turns them into Lambda's SQS event
  (`lambda_events.sqs_event`);
- runs up to `concurrency` batches at once (the function's reserved concurrency, capped for this machine by
  `deployverify local up`), each in an execution environment of its own (`lambda_service.py`). A batch is received
  only when an environment is free for it; a FIFO group stays in order because SQS hands out none of a group's
  messages while one of them is in flight (moto does the same);
- deletes the batch on success (or all but `batchItemFailures` when the event enables ReportBatchItemFailures); on
  failure leaves the messages on the queue, so moto's redrive moves them to the DLQ after maxReceiveCount receives,
  exactly as SQS does (moto implements redrive on receive; verified by tests/local/test_local_stack.py).

One deliberate difference, for speed: Lambda leaves a failed message invisible until the queue's VisibilityTimeout
(960 s in the example) runs out; here it becomes visible again after `retry_delay_s` (default 1 s, env
DV_LOCAL_RETRY_DELAY_S). The queue's attributes stay as the template declares them.

Every invocation is also appended to `<stack>/invocations.jsonl` (request id, message ids, environment, queue wait,
duration, harness overhead) for benchmarks; `stack.invocations()` reads it back.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.lambda_events import sqs_event
from deployverify.local.lambda_service import INIT_LIMIT_S, EnvironmentPool, ExecutionEnvironment, aws_client
from deployverify.local.runtime_api import RuntimeApiInvocation

RECEIVE_WAIT_S = 1


class EventSourceMapping:
    """Lambda's SQS event source mapping for one function: receive batches, invoke, settle the messages, record."""

    def __init__(self, config: LocalFunctionConfig) -> None:
        self.config = config
        self.sqs = aws_client("sqs", config)
        self.cloudwatch = aws_client("cloudwatch", config)
        self.environments = EnvironmentPool(config, config.concurrency)
        self.stopping = threading.Event()
        self.count = 0
        self.status_report: dict[str, Any] = {"status": "starting"}
        self._lock = threading.Lock()  # batches finish in their own threads: one writer at a time for status/records

    def write_status(self, **changes: Any) -> None:
        with self._lock:
            environments = [{"runtime": p.runtime.ident if p.runtime else None, "runtime_api": p.api.address,
                             "log_stream": p.stream.name if p.stream else None} for p in self.environments.all]
            first = environments[0] if environments else {}
            self.status_report.update(changes, pid=os.getpid(), mode=self.config.mode, invocations=self.count,
                              updated_at=time.time(), concurrency=self.config.concurrency, environments=environments,
                              runtime_api=first.get("runtime_api"), runtime=first.get("runtime"),
                              log_stream=first.get("log_stream"))
            path = Path(self.config.status_file)
            partial = path.with_suffix(".part")
            partial.write_text(json.dumps(self.status_report, indent=2))
            partial.replace(path)

    def start(self) -> None:
        environment = self.environments.first()
        environment.start_runtime()
        outcome = environment.wait_ready(max(INIT_LIMIT_S, 60.0))
        environment.flush()
        detail = None
        if outcome != "ready" and environment.init_failure:
            error_type, error = environment.init_failure
            detail = f"{error_type}: {error.get('errorMessage', '')}"
        elif outcome != "ready":
            detail = f"runtime exited with status {environment.exit_code}" if outcome == "init_error" \
                else "runtime did not ask for work within 60s"
        init_ms = None
        if environment.api.first_poll_at is not None:
            init_ms = round((environment.api.first_poll_at - environment.runtime_started) * 1000, 1)
        self.write_status(status=outcome, error=detail, init_ms=init_ms)

    def run(self) -> None:
        """Lambda's event source mapping: a batch is received only when an execution environment is free for it, so
        up to `concurrency` batches are in flight, each handled in a thread of its own. Stopping abandons the batches
        in flight: their messages come back after the visibility timeout, as when Lambda loses an environment."""
        free = threading.BoundedSemaphore(self.config.concurrency)
        while not self.stopping.is_set():
            if not free.acquire(timeout=RECEIVE_WAIT_S):
                continue
            messages = self.receive()
            if not messages:
                free.release()
                continue
            threading.Thread(target=self._process_then_free, args=(messages, free), name="batch",
                             daemon=True).start()

    def receive(self) -> list[dict[str, Any]]:
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.config.queue_url, MaxNumberOfMessages=min(10, self.config.batch_size),
                WaitTimeSeconds=RECEIVE_WAIT_S, AttributeNames=["All"], MessageAttributeNames=["All"])
        except Exception as exc:
            print(f"worker: receive failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            self.stopping.wait(1.0)
            return []
        messages: list[dict[str, Any]] = response.get("Messages") or []
        return messages

    def _process_then_free(self, messages: list[dict[str, Any]], free: threading.BoundedSemaphore) -> None:
        try:
            self.process(messages)
        except Exception as exc:  # one batch's trouble must not stop the poller; its messages come back on their own
            print(f"worker: batch failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            free.release()

    def process(self, messages: list[dict[str, Any]]) -> None:
        received = time.time()
        payload = json.dumps(sqs_event(messages, self.config.queue_arn, self.config.region)).encode()
        with self.environments.take() as environment:
            invocation = environment.invoke(payload)
        failed = self._failed_ids(invocation, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        if retry:
            self.sqs.change_message_visibility_batch(QueueUrl=self.config.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.config.retry_delay_s}
                for i, m in enumerate(retry)])
        settled = time.time()
        self._metrics(invocation)
        self._record(invocation, environment, messages, received, settled, failed)
        self.write_status(last_status=invocation.status, last_error=_error_text(invocation))

    def _failed_ids(self, invocation: RuntimeApiInvocation, messages: list[dict[str, Any]]) -> set[str]:
        every = {m["MessageId"] for m in messages}
        if invocation.status != "success":
            return every
        if not self.config.report_batch_item_failures:
            return set()
        try:
            body = json.loads(invocation.response or b"null")
        except ValueError:
            return set()
        items = body.get("batchItemFailures") if isinstance(body, dict) else None
        if not items:
            return set()
        named = {str(item.get("itemIdentifier")) for item in items if isinstance(item, dict)}
        # Lambda fails the whole batch when an identifier is not one of its messages.
        return named if named <= every else every

    def _metrics(self, invocation: RuntimeApiInvocation) -> None:
        dims = [{"Name": "FunctionName", "Value": self.config.function_name}]
        try:
            self.cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Value": 1, "Unit": "Count"},
                {"MetricName": "Errors", "Dimensions": dims, "Value": 0 if invocation.status == "success" else 1,
                 "Unit": "Count"},
                {"MetricName": "Duration", "Dimensions": dims, "Value": invocation.duration_ms,
                 "Unit": "Milliseconds"}])
        except Exception as exc:
            print(f"worker: could not put metrics: {type(exc).__name__}", file=sys.stderr, flush=True)

    def _record(self, invocation: RuntimeApiInvocation, environment: ExecutionEnvironment,
                messages: list[dict[str, Any]], received: float, settled: float, failed: set[str]) -> None:
        sent = [int((m.get("Attributes") or {}).get("SentTimestamp", 0)) / 1000 for m in messages]
        record = {
            "request_id": invocation.request_id, "function": self.config.function_name,
            "status": invocation.status, "error_type": invocation.platform_error or
            (invocation.error or {}).get("errorType"),
            "message_ids": [m["MessageId"] for m in messages], "failed_message_ids": sorted(failed),
            "bodies": [m.get("Body", "") for m in messages],
            "receive_counts": [int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 0)) for m in messages],
            "sent_at": min(sent) if sent else None, "received_at": received, "settled_at": settled,
            "environment": environment.index, "log_stream": environment.stream.name if environment.stream else None,
            "duration_ms": round(invocation.duration_ms, 2), "init_ms": round(environment.init_ms, 2)
            if environment.init_ms is not None else None,
            # Wall time from receive to delete, minus the handler's own duration: what this harness adds.
            "overhead_ms": round((settled - received) * 1000 - invocation.duration_ms, 2),
        }
        with self._lock, open(self.config.invocations_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            self.count += 1

    def shutdown(self) -> None:
        self.environments.shutdown()
        self.write_status(status="stopped")


def _error_text(invocation: RuntimeApiInvocation) -> str | None:
    if invocation.error is None:
        return None
    return f"{invocation.error.get('errorType', '')}: {invocation.error.get('errorMessage', '')}"[:500]


def serve(config: LocalFunctionConfig) -> None:
    """Run the mapping until SIGTERM or SIGINT, then stop its execution environments."""
    mapping = EventSourceMapping(config)
    signal.signal(signal.SIGTERM, lambda *_: mapping.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: mapping.stopping.set())
    try:
        mapping.start()
        mapping.run()
    finally:
        mapping.shutdown()
