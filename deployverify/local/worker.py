"""The local event source mapping: poll the trigger queue and invoke the real handler the way Lambda does.

`python -m deployverify.local.worker STATE_FILE FUNCTION_NAME` runs detached (started by `deployverify local up`):

- receives up to BatchSize messages from the function's SQS queue (long poll) and turns them into Lambda's SQS event
  (`Records[]` with messageId, receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource,
  eventSourceARN, awsRegion);
- runs up to `concurrency` batches at once (the function's reserved concurrency, capped for this machine by
  `deployverify local up`), each in an execution environment of its own, as Lambda does: an environment is one
  long-lived Lambda-image container (`container.py`) with its own Runtime API endpoint (`runtime_api.py`), runs one
  invocation at a time, is reused warm, and a new one is started (a cold start) only when every existing one is busy;
  a dead or timed-out runtime is started again in its environment on the next invocation. A batch is received only
  when an environment is free for it; a FIFO group stays in order because SQS hands out none of a group's messages
  while one of them is in flight (moto does the same);
- writes Lambda's log lines to `/aws/lambda/<function>` in the emulated CloudWatch Logs, one stream per runtime (so
  per execution environment): INIT_START, the function's own output, START / END / REPORT (Duration, Billed
  Duration, Memory Size, Max Memory Used, Init Duration on a cold start), `Task timed out after ...`, INIT_REPORT for
  a failed init;
- deletes the batch on success (or all but `batchItemFailures` when the event enables ReportBatchItemFailures); on
  failure leaves the messages on the queue, so moto's redrive moves them to the DLQ after maxReceiveCount receives,
  exactly as SQS does (moto implements redrive on receive; verified by tests/test_local_stack.py).

One deliberate difference, for speed: Lambda leaves a failed message invisible until the queue's VisibilityTimeout
(960 s in the example) runs out; here it becomes visible again after `retry_delay_s` (default 1 s, env
DV_LOCAL_RETRY_DELAY_S). The queue's attributes stay as the template declares them.

Every invocation is also appended to `<stack>/invocations.jsonl` (request id, message ids, environment, queue wait,
duration, harness overhead) for benchmarks; `stack.invocations()` reads it back.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deployverify.aws.session import client
from deployverify.local import cwlogs, logpipe
from deployverify.local.container import DockerRuntime, Runtime, SandboxRuntime
from deployverify.local.moto_server import CREDENTIALS
from deployverify.local.runtime_api import Invocation, RuntimeApi

INIT_LIMIT_S = 10.0  # Lambda's limit on an on-demand init phase
RECEIVE_WAIT_S = 1
LOG_FLUSH_EVERY_S = 1.0
_SYSTEM_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                      "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader")


@dataclass(frozen=True)
class WorkerConfig:
    function_name: str
    function_arn: str
    runtime: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    log_group: str
    task_dir: str
    io_dir: str
    mode: str  # docker or sandbox
    image: str
    region: str
    endpoint: str
    stack_id: str
    status_file: str
    invocations_file: str
    log_file: str
    sandbox_runtime_dir: str = ""
    retry_delay_s: int = 1
    concurrency: int = 1  # execution environments, so batches in flight, at most
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WorkerConfig:
        return cls(**raw)


def _client(service: str, config: WorkerConfig) -> Any:
    return client(service, region_name=config.region, endpoint_url=config.endpoint, credentials=CREDENTIALS)


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


def report_line(invocation: Invocation, memory_mb: int, used_mb: int | None, init_ms: float | None) -> str:
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


class Platform:
    """What Lambda's service does around one execution environment's runtime: start it, log around each invocation,
    notice its death. The environment runs one invocation at a time; `Environments` runs several of them."""

    def __init__(self, config: WorkerConfig, index: int = 0) -> None:
        self.config = config
        self.index = index
        self.logs = _client("logs", config)
        self.lock = threading.RLock()
        self.api = RuntimeApi(self).start()
        self.io_dir = Path(config.io_dir) / f"env-{index}"  # its own log pipe: its output goes to its own stream
        self.pipe = logpipe.OutputPipe(self.io_dir)
        self.pump = logpipe.Pump(self.pipe, self._emit_lines, self.lock).start()
        self.stream: cwlogs.LogStream | None = None
        self.runtime: Runtime | None = None
        self.runtime_started = 0.0
        self.runtime_exited = threading.Event()
        self.exit_code: int | None = None
        self.init_failure: tuple[str, dict[str, Any]] | None = None
        self.init_ms: float | None = None
        self._init_reported = False
        self._generation = 0
        self._stop_flusher = threading.Event()
        threading.Thread(target=self._flush_loop, name="log-flush", daemon=True).start()

    # --- runtime lifecycle ---

    def _environment(self) -> dict[str, str]:
        env = dict(self.config.environment)
        env["AWS_LAMBDA_RUNTIME_API"] = self.api.address
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = self.stream.name if self.stream else ""
        return env

    def start_runtime(self) -> None:
        with self.lock:
            self._generation += 1
            generation = self._generation
            self.stream = cwlogs.LogStream(self.logs, self.config.log_group, Path(self.config.log_file))
            self.api.reset()
            self.runtime_exited.clear()
            self.exit_code = None
            self.init_failure = None
            self.init_ms = None
            self._init_reported = False
            self.stream.add(f"INIT_START Runtime Version: {self.config.runtime.replace('python', 'python:')}.local"
                            f"\tRuntime Version ARN: arn:aws:lambda:{self.config.region}::runtime:deployverify-local")
            runtime: Runtime
            if self.config.mode == "docker":
                runtime = DockerRuntime(
                    image=self.config.image, handler=self.config.handler, env=self._environment(),
                    task_dir=Path(self.config.task_dir), io_dir=self.io_dir, memory_mb=self.config.memory_mb,
                    name=f"dv-local-{self.config.stack_id}-{self.config.function_name}-{self.index}-{generation}"[:120],
                    labels=self.config.labels)
            else:
                runtime = SandboxRuntime(handler=self.config.handler, env=self._environment(),
                                         task_dir=Path(self.config.task_dir), io_dir=self.io_dir,
                                         runtime_dir=Path(self.config.sandbox_runtime_dir))
            self.runtime_started = time.perf_counter()
            runtime.start()
            self.runtime = runtime
        threading.Thread(target=self._watch, args=(runtime, generation), name="runtime-watch", daemon=True).start()

    def ensure_runtime(self) -> None:
        if self.runtime is None or self.runtime_exited.is_set():
            if self.runtime is not None:
                self.runtime.kill()
            self.start_runtime()

    def wait_ready(self, timeout_s: float) -> str:
        """After a (re)start: 'ready' once the runtime asks for work, else 'init_error' or 'timeout'."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.api.first_poll.wait(0.05):
                return "ready"
            if self.runtime_exited.is_set():
                return "init_error"
        return "timeout"

    def _watch(self, runtime: Runtime, generation: int) -> None:
        code = runtime.wait()
        with self.lock:
            if generation != self._generation:
                return
            self.pump.drain_now(include_partial=True)
            self.exit_code = code
            self.runtime_exited.set()
            for invocation in self.api.running():
                message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: exit status {code}"
                self.api.complete(invocation, "error", platform_error="Runtime.ExitError",
                                  error={"errorType": "Runtime.ExitError", "errorMessage": message})
            self._fail_pending()
        runtime.kill()  # removes the stopped container

    def _fail_pending(self) -> None:
        for invocation in self.api.pending():
            if self.init_failure is not None:
                error_type, error = self.init_failure
            else:
                error_type, error = "Runtime.ExitError", {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Runtime exited with error: exit status {self.exit_code}"}
            self.api.complete(invocation, "error", platform_error=error_type, error=error)

    def shutdown(self) -> None:
        with self.lock:
            self._generation += 1
            runtime, self.runtime = self.runtime, None
        if runtime is not None:
            runtime.kill()
        self.pump.stop()
        self.api.stop()
        self._stop_flusher.set()
        self.flush()
        self.pipe.close()

    # --- Listener: called from the Runtime API's request threads ---

    def invocation_started(self, invocation: Invocation) -> None:
        with self.lock:
            self.pump.drain_now()
            if self.init_ms is None and self.api.first_poll_at is not None:
                self.init_ms = (self.api.first_poll_at - self.runtime_started) * 1000
            self._add(f"START RequestId: {invocation.request_id} Version: $LATEST")

    def invocation_finished(self, invocation: Invocation) -> None:
        with self.lock:
            self.pump.drain_now()
            if invocation.started is None:  # never reached the handler (init failed): Lambda still logs the request
                invocation.started = invocation.finished
                self._add(f"START RequestId: {invocation.request_id} Version: $LATEST")
            if invocation.status == "timeout":
                self._add(f"{cwlogs.iso_ms(time.time())} {invocation.request_id} Task timed out after "
                          f"{self.config.timeout_s:.2f} seconds")
            elif invocation.platform_error and invocation.error:
                self._add(f"{invocation.error.get('errorMessage', '')}\n{invocation.platform_error}")
            self._add(f"END RequestId: {invocation.request_id}")
            init_ms = None
            if not self._init_reported and self.init_ms is not None:
                init_ms, self._init_reported = self.init_ms, True
            used = self.runtime.max_memory_mb() if self.runtime else None
            self._add(report_line(invocation, self.config.memory_mb, used, init_ms))
        self.flush()

    def init_error(self, error: dict[str, Any], error_type: str) -> None:
        with self.lock:
            self.pump.drain_now()
            self.init_failure = (error_type, error)
            init_ms = (time.perf_counter() - self.runtime_started) * 1000
            self._add(f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: "
                      f"{error_type}")
            self._fail_pending()
        self.flush()

    # --- logs ---

    def _emit_lines(self, lines: list[str]) -> None:
        for line in lines:
            if line.strip():
                self._add(line)

    def _add(self, message: str) -> None:
        if self.stream is not None:
            self.stream.add(message)

    def flush(self) -> None:
        stream = self.stream
        if stream is None:
            return
        try:
            stream.flush()
        except Exception as exc:  # a hiccup of the emulated endpoint must not kill the worker
            print(f"worker: could not write logs: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def _flush_loop(self) -> None:
        while not self._stop_flusher.wait(LOG_FLUSH_EVERY_S):
            self.flush()

    # --- invoke ---

    def invoke(self, payload: bytes) -> Invocation:
        self.ensure_runtime()
        invocation = self.api.submit(Invocation(payload=payload, timeout_s=self.config.timeout_s,
                                                function_arn=self.config.function_arn))
        submitted = time.monotonic()
        while not invocation.done.wait(0.05):
            if invocation.handed_out.is_set():
                assert invocation.started is not None
                if time.perf_counter() - invocation.started > self.config.timeout_s:
                    self._time_out(invocation)
            elif time.monotonic() - submitted > max(INIT_LIMIT_S, self.config.timeout_s) + INIT_LIMIT_S:
                self._time_out(invocation)
        return invocation

    def _time_out(self, invocation: Invocation) -> None:
        with self.lock:
            runtime, self.runtime = self.runtime, None
            self._generation += 1  # the dying runtime's watcher must not touch the next one
            self.runtime_exited.set()
        self.api.complete(invocation, "timeout", platform_error="Sandbox.Timedout")
        if runtime is not None:
            runtime.kill()


class Environments:
    """The function's execution environments, at most `limit`: a free one is reused warm, and a new one starts (a
    cold start) only when every existing one is busy, as Lambda scales."""

    def __init__(self, config: WorkerConfig, limit: int) -> None:
        self.config = config
        self.limit = limit
        self.all: list[Platform] = []
        self._idle: list[Platform] = []
        self._lock = threading.Lock()

    def first(self) -> Platform:
        """The environment `local up` starts and waits for, so that a failing init shows before any message."""
        with self._lock:
            if not self.all:
                self._idle.append(self._new())
            return self.all[0]

    @contextmanager
    def take(self) -> Iterator[Platform]:
        with self._lock:
            if self._idle:
                platform = self._idle.pop()  # the most recently used: the warmest
            elif len(self.all) < self.limit:
                platform = self._new()
            else:  # the poller holds no more batches than there are environments
                raise RuntimeError(f"all {self.limit} execution environments are busy")
        try:
            yield platform
        finally:
            with self._lock:
                self._idle.append(platform)

    def _new(self) -> Platform:
        platform = Platform(self.config, index=len(self.all))
        self.all.append(platform)
        return platform

    def shutdown(self) -> None:
        with self._lock:
            platforms = list(self.all)
        for platform in platforms:
            platform.shutdown()


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.sqs = _client("sqs", config)
        self.cloudwatch = _client("cloudwatch", config)
        self.environments = Environments(config, config.concurrency)
        self.stopping = threading.Event()
        self.count = 0
        self.state: dict[str, Any] = {"status": "starting"}
        self._lock = threading.Lock()  # batches finish in their own threads: one writer at a time for status/records

    def write_status(self, **changes: Any) -> None:
        with self._lock:
            environments = [{"runtime": p.runtime.ident if p.runtime else None, "runtime_api": p.api.address,
                             "log_stream": p.stream.name if p.stream else None} for p in self.environments.all]
            first = environments[0] if environments else {}
            self.state.update(changes, pid=_pid(), mode=self.config.mode, invocations=self.count,
                              updated_at=time.time(), concurrency=self.config.concurrency, environments=environments,
                              runtime_api=first.get("runtime_api"), runtime=first.get("runtime"),
                              log_stream=first.get("log_stream"))
            path = Path(self.config.status_file)
            partial = path.with_suffix(".part")
            partial.write_text(json.dumps(self.state, indent=2))
            partial.replace(path)

    def start(self) -> None:
        platform = self.environments.first()
        platform.start_runtime()
        outcome = platform.wait_ready(max(INIT_LIMIT_S, 60.0))
        platform.flush()
        detail = None
        if outcome != "ready" and platform.init_failure:
            error_type, error = platform.init_failure
            detail = f"{error_type}: {error.get('errorMessage', '')}"
        elif outcome != "ready":
            detail = f"runtime exited with status {platform.exit_code}" if outcome == "init_error" \
                else "runtime did not ask for work within 60s"
        init_ms = None
        if platform.api.first_poll_at is not None:
            init_ms = round((platform.api.first_poll_at - platform.runtime_started) * 1000, 1)
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
        with self.environments.take() as platform:
            invocation = platform.invoke(payload)
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
        self._record(invocation, platform, messages, received, settled, failed)
        self.write_status(last_status=invocation.status, last_error=_error_text(invocation))

    def _failed_ids(self, invocation: Invocation, messages: list[dict[str, Any]]) -> set[str]:
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

    def _metrics(self, invocation: Invocation) -> None:
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

    def _record(self, invocation: Invocation, platform: Platform, messages: list[dict[str, Any]], received: float,
                settled: float, failed: set[str]) -> None:
        sent = [int((m.get("Attributes") or {}).get("SentTimestamp", 0)) / 1000 for m in messages]
        record = {
            "request_id": invocation.request_id, "function": self.config.function_name,
            "status": invocation.status, "error_type": invocation.platform_error or
            (invocation.error or {}).get("errorType"),
            "message_ids": [m["MessageId"] for m in messages], "failed_message_ids": sorted(failed),
            "bodies": [m.get("Body", "") for m in messages],
            "receive_counts": [int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 0)) for m in messages],
            "sent_at": min(sent) if sent else None, "received_at": received, "settled_at": settled,
            "environment": platform.index, "log_stream": platform.stream.name if platform.stream else None,
            "duration_ms": round(invocation.duration_ms, 2), "init_ms": round(platform.init_ms, 2)
            if platform.init_ms is not None else None,
            # Wall time from receive to delete, minus the handler's own duration: what this harness adds.
            "overhead_ms": round((settled - received) * 1000 - invocation.duration_ms, 2),
        }
        with self._lock, open(self.config.invocations_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            self.count += 1

    def shutdown(self) -> None:
        self.environments.shutdown()
        self.write_status(status="stopped")


def _error_text(invocation: Invocation) -> str | None:
    if invocation.error is None:
        return None
    return f"{invocation.error.get('errorType', '')}: {invocation.error.get('errorMessage', '')}"[:500]


def _pid() -> int:
    import os

    return os.getpid()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m deployverify.local.worker STATE_FILE FUNCTION_NAME", file=sys.stderr)
        return 2
    state = json.loads(Path(argv[1]).read_text())
    config = WorkerConfig.from_dict(state["workers"][argv[2]]["config"])
    worker = Worker(config)
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stopping.set())
    try:
        worker.start()
        worker.run()
    finally:
        worker.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
