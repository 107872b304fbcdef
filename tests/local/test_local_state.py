"""The local stack's typed state: the JSON it persists keeps the shape its readers rely on (bench/smoke_overhead.py
and the end-to-end tests read state.json directly), and the event-source process finds its config in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.postgres import Connection, Embedded
from deployverify.local.procs import ProcessRef
from deployverify.local.resources import Created
from deployverify.local.stack_environment import environment
from deployverify.local.stack_state import (
    STATE_VERSION,
    DatabaseRecord,
    MotoRecord,
    RuntimeChoice,
    StackResources,
    StackState,
    WorkerRecord,
    load_state,
)
from deployverify.sam.template import load_stack_spec

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "examples" / "docworker" / "template.yaml"


def config(**changes: object) -> LocalFunctionConfig:
    raw: dict[str, object] = dict(
        function_name="fn", function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn", runtime="python3.11",
        handler="app.handler", timeout_s=30, memory_mb=256, environment={"A": "1"}, queue_url="http://q",
        queue_arn="arn:q", batch_size=1, report_batch_item_failures=True, log_group="/aws/lambda/fn", task_dir="/t",
        io_dir="/io", mode="docker", image="img", region="us-east-1", endpoint="http://127.0.0.1:5000",
        stack_id="abc", status_file="/s", invocations_file="/i", log_file="/l", concurrency=3,
        labels={"deployverify.stack": "abc"})
    raw.update(changes)
    return LocalFunctionConfig(**raw)  # type: ignore[arg-type]


def resources() -> StackResources:
    spec, _ = load_stack_spec(TEMPLATE, region="us-east-1")
    created = Created(buckets={"DocumentBucket": "docs"})
    for queue in spec.queues:
        created.queues[queue.logical_id] = {"name": queue.name, "url": f"http://q/{queue.name}",
                                            "arn": f"arn:{queue.name}"}
    for secret in spec.secrets:
        created.secrets[secret.logical_id] = {"name": secret.name, "arn": f"arn:{secret.name}"}
    for fn in spec.functions:
        created.functions[fn.logical_id] = {"name": fn.function_name, "arn": f"arn:{fn.function_name}",
                                            "code_sha256": "sha", "environment": {}, "log_group": fn.log_group}
    return StackResources.from_created(created, spec)


def full_state() -> StackState:
    return StackState(
        target="/x/deployverify.yaml", target_name="docworker", stack_id="abc", region="us-east-1",
        created_at="t0", updated_at="t1", endpoint="http://127.0.0.1:5000",
        moto=MotoRecord(ProcessRef(10, 5.0), 5000),
        database=DatabaseRecord("embedded", Connection("127.0.0.1", 5433, "worker", "pw", "worker"),
                                Embedded(Path("/data"), 5433, None)),
        resources=resources(), ignored=("AWS::SNS::Topic Alerts",),
        runtime=RuntimeChoice("docker", "img", "image img"),
        workers={"fn": WorkerRecord(config(), ProcessRef(11, 6.0))})


def test_the_state_round_trips_through_its_json(tmp_path: Path) -> None:
    state = full_state()
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state.to_dict()))
    assert load_state(path) == state


def test_the_json_keeps_the_shape_its_direct_readers_use() -> None:
    raw = json.loads(json.dumps(full_state().to_dict()))
    assert raw["version"] == STATE_VERSION
    assert raw["workers"]["fn"]["config"]["concurrency"] == 3  # bench/smoke_overhead.py
    assert raw["workers"]["fn"]["process"] == {"pid": 11, "started": 6.0}
    assert raw["moto"] == {"process": {"pid": 10, "started": 5.0}, "port": 5000}
    assert raw["database"]["connection"]["port"] == 5433
    assert raw["database"]["embedded"]["data_dir"] == "/data"
    assert raw["runtime"] == {"mode": "docker", "image": "img", "reason": "image img"}


def test_resources_record_the_trigger_queue_and_its_redrive() -> None:
    found = resources()
    function = found.functions["DocumentWorkerFunction"]
    assert function.trigger_queue == "DocumentQueue"
    queue = found.queues["DocumentQueue"]
    assert (queue.dlq, queue.max_receive_count) == ("DocumentDLQ", "3")
    assert found.queues["DocumentDLQ"].dlq is None
    assert "dlq" not in found.queues["DocumentDLQ"].to_dict()


def test_the_environment_names_the_trigger_queue_and_its_dlq() -> None:
    state = full_state()
    env = environment(state)
    assert env["DV_LOCAL_QUEUE_URL"] == state.resources.queues["DocumentQueue"].url
    assert env["DV_LOCAL_DLQ_URL"] == state.resources.queues["DocumentDLQ"].url
    assert env["DV_LOCAL_BUCKET"] == "docs"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"


@pytest.mark.parametrize("content", ["", "{", json.dumps({"version": STATE_VERSION + 1}), json.dumps({"version": 1})])
def test_an_unreadable_or_foreign_state_is_no_state(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    assert load_state(path) is None


@pytest.mark.parametrize("args", [[], ["state.json"], ["state.json", "missing-function"]])
def test_the_event_source_process_says_how_to_call_it(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "state.json").write_text(json.dumps(full_state().to_dict()))
    done = subprocess.run([sys.executable, "-m", "deployverify.local", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "usage: python -m deployverify.local STATE_FILE FUNCTION_NAME" in done.stderr
