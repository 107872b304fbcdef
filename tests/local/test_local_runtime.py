"""The Runtime API and the environment around it, driven by the real runtime interface client (awslambdaric) running
as a sandboxed host process: no Docker needed, so these run everywhere and pin the protocol and the log format.

Logs go to a real moto server on loopback; the container path is covered end to end by test_local_stack.py.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployverify.aws.session import client
from deployverify.lambda_image.runtimes import lambda_environment
from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.function_runtime import sandbox_runtime_dir
from deployverify.local.lambda_events import report_line, sqs_event
from deployverify.local.lambda_service import ExecutionEnvironment
from deployverify.local.moto_server import CREDENTIALS
from tests.support.moto import moto_server

HANDLER_SOURCE = textwrap.dedent('''
    import logging
    import os
    import time

    logger = logging.getLogger()
    logger.setLevel(logging.INFO)
    print("init line")


    def handler(event, context):
        logger.info("handling %s", event.get("name"))
        if event.get("fail"):
            raise ValueError("boom " + event["name"])
        if event.get("sleep"):
            time.sleep(event["sleep"])
        if event.get("exit"):
            os._exit(event["exit"])
        return {"echo": event, "function": context.function_name, "left": context.get_remaining_time_in_millis() > 0}
''')


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def make_environment(tmp_path: Path, moto_url: str) -> Iterator[Any]:
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(HANDLER_SOURCE)
    runtime_dir = sandbox_runtime_dir(tmp_path / "runtime")
    made: list[ExecutionEnvironment] = []

    def make(handler: str = "app.handler", timeout_s: int = 30) -> ExecutionEnvironment:
        env = lambda_environment("python3.11", handler, function_name="fn", memory_mb=256, region="us-east-1")
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=moto_url)
        config = LocalFunctionConfig(
            function_name="fn", function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn", runtime="python3.11",
            handler=handler, timeout_s=timeout_s, memory_mb=256, environment=env, queue_url="", queue_arn="",
            batch_size=1, report_batch_item_failures=False, log_group=f"/aws/lambda/fn-{len(made)}-{tmp_path.name}",
            task_dir=str(task), io_dir=str(tmp_path / f"io{len(made)}"), mode="sandbox", image="", region="us-east-1",
            endpoint=moto_url, stack_id="test", status_file=str(tmp_path / "status.json"),
            invocations_file=str(tmp_path / "invocations.jsonl"), log_file=str(tmp_path / "function.log"),
            sandbox_runtime_dir=str(runtime_dir))
        environment = ExecutionEnvironment(config)
        made.append(environment)
        environment.start_runtime()
        return environment

    try:
        yield make
    finally:
        for environment in made:
            environment.shutdown()


def messages(environment: ExecutionEnvironment) -> list[str]:
    environment.flush()
    logs = client("logs", region_name="us-east-1", endpoint_url=environment.config.endpoint, credentials=CREDENTIALS)
    return [e["message"] for e in logs.filter_log_events(logGroupName=environment.config.log_group)["events"]]


def invoke(environment: ExecutionEnvironment, **event: Any) -> Any:
    return environment.invoke(json.dumps(event).encode())


def test_a_successful_invocation_is_framed_by_start_end_report(make_environment: Any) -> None:
    environment = make_environment()
    assert environment.wait_ready(30) == "ready"
    first = invoke(environment, name="one")
    second = invoke(environment, name="two")

    assert first.status == second.status == "success"
    assert json.loads(first.response) == {"echo": {"name": "one"}, "function": "fn", "left": True}
    logged = messages(environment)
    assert logged[0].startswith("INIT_START Runtime Version: python:3.11")
    assert logged[1] == "init line"
    for invocation, name in ((first, "one"), (second, "two")):
        rid = invocation.request_id
        start = logged.index(f"START RequestId: {rid} Version: $LATEST")
        line = next(i for i, m in enumerate(logged) if m.endswith(f"\t{rid}\thandling {name}"))
        end = logged.index(f"END RequestId: {rid}")
        report = next(i for i, m in enumerate(logged) if m.startswith(f"REPORT RequestId: {rid}\t"))
        assert start < line < end < report
    reports = [m for m in logged if m.startswith("REPORT")]
    assert "\tInit Duration: " in reports[0]
    assert "Init Duration" not in reports[1]  # only a cold start reports init


def test_a_handler_exception_is_an_error_with_its_traceback_logged(make_environment: Any) -> None:
    environment = make_environment()
    failed = invoke(environment, name="bad", fail=True)
    assert failed.status == "error"
    assert failed.error["errorType"] == "ValueError"
    assert failed.error["errorMessage"] == "boom bad"
    assert failed.platform_error is None
    error_lines = [m for m in messages(environment) if m.startswith("[ERROR] ValueError: boom bad")]
    assert len(error_lines) == 1
    assert "\nTraceback (most recent call last):\n" in error_lines[0]
    assert invoke(environment, name="after").status == "success"  # the same runtime goes on


def test_an_import_error_fails_init_like_lambda(make_environment: Any) -> None:
    environment = make_environment("missing_module.handler")
    assert environment.wait_ready(30) == "init_error"
    failed = invoke(environment, name="x")
    assert (failed.status, failed.platform_error) == ("error", "Runtime.ImportModuleError")
    assert failed.error["errorMessage"] == "Unable to import module 'missing_module': No module named 'missing_module'"
    logged = messages(environment)
    assert any(m.startswith("[ERROR] Runtime.ImportModuleError: Unable to import module 'missing_module'")
               for m in logged)
    assert any(m.startswith("INIT_REPORT Init Duration:") and m.endswith("Error Type: Runtime.ImportModuleError")
               for m in logged)
    assert logged[-1].endswith("\tStatus: error\tError Type: Runtime.ImportModuleError")


def test_a_timeout_kills_the_runtime_and_the_next_invocation_starts_a_new_one(make_environment: Any) -> None:
    environment = make_environment(timeout_s=1)
    slow = invoke(environment, name="slow", sleep=5)
    assert slow.status == "timeout"
    assert any(m.endswith(f"{slow.request_id} Task timed out after 1.00 seconds") for m in messages(environment))
    after = invoke(environment, name="after")
    assert after.status == "success"
    assert sum(m.startswith("INIT_START") for m in messages(environment)) == 2
    logs = client("logs", region_name="us-east-1", endpoint_url=environment.config.endpoint, credentials=CREDENTIALS)
    streams = logs.describe_log_streams(logGroupName=environment.config.log_group)["logStreams"]
    assert len(streams) == 2  # one stream per execution environment, as Lambda writes them


def test_a_runtime_that_exits_fails_its_invocation(make_environment: Any) -> None:
    environment = make_environment()
    died = invoke(environment, name="die", exit=3)
    assert (died.status, died.platform_error) == ("error", "Runtime.ExitError")
    assert "exit status 3" in died.error["errorMessage"]
    assert invoke(environment, name="after").status == "success"


def test_sqs_event_has_lambdas_shape() -> None:
    received = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": '{"document_id": 1}', "MD5OfBody": "abc",
                "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000",
                               "MessageGroupId": "g", "Other": "x"},
                "MessageAttributes": {"kind": {"StringValue": "pdf", "DataType": "String"}}}
    event = sqs_event([received], "arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
    assert event == {"Records": [{
        "messageId": "m1", "receiptHandle": "r1", "body": '{"document_id": 1}',
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000", "MessageGroupId": "g"},
        "messageAttributes": {"kind": {"stringValue": "pdf", "stringListValues": [], "binaryListValues": [],
                                       "dataType": "String"}},
        "md5OfBody": "abc", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q.fifo",
        "awsRegion": "us-east-1"}]}


@pytest.mark.parametrize(("status", "platform_error", "init_ms", "tail"), [
    ("success", None, 812.345, "\tMax Memory Used: 64 MB\tInit Duration: 812.35 ms"),
    ("success", None, None, "\tMax Memory Used: 64 MB"),
    ("timeout", "Sandbox.Timedout", None, "\tMax Memory Used: 64 MB\tStatus: timeout"),
    ("error", "Runtime.ExitError", None, "\tMax Memory Used: 64 MB\tStatus: error\tError Type: Runtime.ExitError"),
])
def test_report_line_format(status: str, platform_error: str | None, init_ms: float | None, tail: str) -> None:
    from deployverify.local.runtime_api import RuntimeApiInvocation

    invocation = RuntimeApiInvocation(payload=b"{}", timeout_s=3, function_arn="arn", request_id="rid", status=status,
                            platform_error=platform_error, started=10.0, finished=10.0123456)
    line = report_line(invocation, 1024, 64, init_ms)
    assert line == ("REPORT RequestId: rid\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB" + tail)
