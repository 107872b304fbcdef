"""The local worker runs batches in parallel execution environments, as Lambda does, and keeps a FIFO group in order.

The real worker (poller, environments, Runtime API) against a moto server on loopback, with a scripted handler run by
the real runtime interface client as a sandboxed host process: no Docker needed. The handler proves concurrency
without timing anything: a message marked `barrier: N` waits until N messages have reached the handler, and fails
when they never do.
"""

from __future__ import annotations

import json
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployverify.aws.session import client
from deployverify.core.errors import DeployVerifyError
from deployverify.core.waits import wait_for
from deployverify.lambda_image.runtimes import lambda_environment
from deployverify.local.event_source import EventSourceMapping
from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.function_runtime import sandbox_runtime_dir
from deployverify.local.function_workers import local_concurrency
from deployverify.local.moto_server import CREDENTIALS
from deployverify.sam.template import FunctionSpec
from tests.support.moto import moto_server

HANDLER_SOURCE = textwrap.dedent('''
    import json
    import os
    import pathlib
    import time

    SCRATCH = pathlib.Path(os.environ["SCRATCH"])


    def note(line):
        with open(SCRATCH / "events.log", "a") as out:
            out.write(line + "\\n")


    def handler(event, context):
        for record in event["Records"]:
            body = json.loads(record["body"])
            note("start " + body["name"])
            failed_once = SCRATCH / (body["name"] + ".failed")
            if body.get("fail_once") and not failed_once.exists():
                failed_once.touch()
                raise RuntimeError(body["name"] + " fails its first attempt")
            if body.get("barrier"):
                (SCRATCH / (body["name"] + ".arrived")).touch()
                deadline = time.time() + 30
                while len(list(SCRATCH.glob("*.arrived"))) < body["barrier"]:
                    if time.time() > deadline:
                        raise TimeoutError(body["name"] + " reached the handler alone")
                    time.sleep(0.02)
            time.sleep(body.get("sleep", 0))  # widens the window in which an out-of-order message would show
            note("end " + body["name"])
        return {}
''')


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@dataclass
class Running:
    worker: EventSourceMapping
    config: LocalFunctionConfig
    scratch: Path

    def aws(self, service: str) -> Any:
        return client(service, region_name="us-east-1", endpoint_url=self.config.endpoint, credentials=CREDENTIALS)

    def send(self, name: str, group: str, **body: Any) -> None:
        self.aws("sqs").send_message(QueueUrl=self.config.queue_url, MessageBody=json.dumps({"name": name, **body}),
                                     MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex)

    def records(self, count: int) -> list[dict[str, Any]]:
        path = Path(self.config.invocations_file)

        def poll() -> tuple[bool, list[dict[str, Any]]]:
            lines = path.read_text().splitlines() if path.exists() else []
            return len(lines) >= count, [json.loads(line) for line in lines]

        found = wait_for(f"{count} invocations", 90, poll, announce=False).last or []
        assert len(found) == count, found
        return found

    def events(self) -> list[str]:
        return (self.scratch / "events.log").read_text().splitlines()

    def log_streams(self) -> dict[str, list[str]]:
        logs = self.aws("logs")
        for environment in self.worker.environments.all:
            environment.flush()
        streams = logs.describe_log_streams(logGroupName=self.config.log_group)["logStreams"]
        return {s["logStreamName"]: [e["message"] for e in logs.get_log_events(
            logGroupName=self.config.log_group, logStreamName=s["logStreamName"])["events"]] for s in streams}


@pytest.fixture
def run_worker(tmp_path: Path, moto_url: str) -> Iterator[Any]:
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(HANDLER_SOURCE)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    started: list[tuple[EventSourceMapping, threading.Thread]] = []

    def start(concurrency: int) -> Running:
        sqs = client("sqs", region_name="us-east-1", endpoint_url=moto_url, credentials=CREDENTIALS)
        name = f"q{uuid.uuid4().hex[:8]}.fifo"
        url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
        env = lambda_environment("python3.11", "app.handler", function_name="fn", memory_mb=256, region="us-east-1")
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=moto_url,
                   SCRATCH=str(scratch))
        config = LocalFunctionConfig(
            function_name="fn", function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
            runtime="python3.11", handler="app.handler", timeout_s=60, memory_mb=256, environment=env,
            queue_url=url, queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{name}", batch_size=1,
            report_batch_item_failures=False, log_group=f"/aws/lambda/fn-{tmp_path.name}", task_dir=str(task),
            io_dir=str(tmp_path / "io"), mode="sandbox", image="", region="us-east-1", endpoint=moto_url,
            stack_id="test", status_file=str(tmp_path / "status.json"),
            invocations_file=str(tmp_path / "invocations.jsonl"), log_file=str(tmp_path / "function.log"),
            sandbox_runtime_dir=str(sandbox_runtime_dir(tmp_path / "runtime")), retry_delay_s=0,
            concurrency=concurrency)
        worker = EventSourceMapping(config)
        worker.start()
        assert worker.status_report["status"] == "ready", worker.status_report
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started.append((worker, thread))
        return Running(worker, config, scratch)

    try:
        yield start
    finally:
        for worker, thread in started:
            worker.stopping.set()
            thread.join(timeout=10)
            worker.shutdown()


def test_batches_run_at_once_in_environments_of_their_own_never_more_than_the_limit(run_worker: Any) -> None:
    running: Running = run_worker(2)
    for name in ("a", "b", "c", "d"):
        running.send(name, group=name, barrier=2)  # one group per message, as the pipeline sends documents

    records = running.records(4)

    assert {r["status"] for r in records} == {"success"}  # each one met another in the handler
    assert {r["environment"] for r in records} == {0, 1}
    streams = running.log_streams()
    assert set(streams) == {r["log_stream"] for r in records}
    assert len(streams) == 2  # one stream per execution environment
    status = json.loads(Path(running.config.status_file).read_text())
    assert (status["concurrency"], len(status["environments"]), status["invocations"]) == (2, 2, 4)
    for messages in streams.values():
        assert messages[0].startswith("INIT_START Runtime Version: python:3.11")
        reports = [m for m in messages if m.startswith("REPORT RequestId: ")]
        assert "\tInit Duration: " in reports[0]  # the scale-out was a cold start
        assert all("Init Duration" not in m for m in reports[1:])
        for report in reports:
            request_id = report.split("\t")[0].removeprefix("REPORT RequestId: ")
            start = messages.index(f"START RequestId: {request_id} Version: $LATEST")
            end = messages.index(f"END RequestId: {request_id}")
            assert start < end < messages.index(report)
            between = messages[start + 1:end]
            assert not any(m.startswith(("START", "END", "REPORT")) for m in between)  # one at a time per stream


def test_a_fifo_group_stays_in_order_and_is_never_processed_concurrently(run_worker: Any) -> None:
    running: Running = run_worker(2)
    for group in ("x", "y"):
        running.send(f"{group}1", group=group, barrier=2)  # the two groups run at once
        running.send(f"{group}2", group=group, sleep=0.3)
        running.send(f"{group}3", group=group, sleep=0.3)

    records = running.records(6)

    assert {r["status"] for r in records} == {"success"}
    events = running.events()
    for group in ("x", "y"):
        mine = [e for e in events if e.split()[1].startswith(group)]
        assert mine == [f"{kind} {group}{n}" for n in (1, 2, 3) for kind in ("start", "end")]


def test_a_failed_message_holds_its_group_back_until_its_retry_succeeds(run_worker: Any) -> None:
    running: Running = run_worker(2)
    running.send("f1", group="f", fail_once=True)
    running.send("f2", group="f")

    records = running.records(3)

    assert [(r["bodies"][0][:20], r["status"], r["receive_counts"]) for r in records] == [
        ('{"name": "f1", "fail', "error", [1]), ('{"name": "f1", "fail', "success", [2]),
        ('{"name": "f2"}', "success", [1])]
    assert running.events() == ["start f1", "start f1", "end f1", "start f2", "end f2"]


@pytest.mark.parametrize(("reserved", "setting", "expected"), [
    (10, "2", 2),
    (1, "4", 1),
    (None, "3", 3),
    (10, "", None),  # default: this machine's CPUs, up to the reserved concurrency
    (0, "2", 1),  # a throttled function (reserved 0) is not emulated: one environment
])
def test_local_concurrency_is_the_reserved_one_capped_for_this_machine(
        monkeypatch: pytest.MonkeyPatch, reserved: int | None, setting: str, expected: int | None) -> None:
    import os

    monkeypatch.setenv("DV_LOCAL_CONCURRENCY", setting)
    fn = FunctionSpec("Fn", "fn", "python3.11", "app.handler", reserved_concurrency=reserved)
    assert local_concurrency(fn) == (expected if expected is not None else min(10, os.cpu_count() or 1))


@pytest.mark.parametrize("setting", ["0", "two", "-1"])
def test_a_bad_local_concurrency_setting_is_named(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("DV_LOCAL_CONCURRENCY", setting)
    with pytest.raises(DeployVerifyError, match=f"DV_LOCAL_CONCURRENCY is '{setting}'; set it to a whole number"):
        local_concurrency(FunctionSpec("Fn", "fn", "python3.11", "app.handler", reserved_concurrency=10))
