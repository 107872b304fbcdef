"""A local stack whose worker cannot start, with the embedded Postgres.

The stack runs the `missing_shared_module` incident (the build copies the wrong `shared` package) with the embedded
Postgres: the runtime's init fails in the container exactly as in Lambda (Runtime.ImportModuleError, logged and
reported), messages fail and reach the DLQ, and `down` stops every process and removes the embedded server's data.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployverify.aws.session import clear_cache, client
from deployverify.core.waits import wait_for
from deployverify.lambda_image.docker import list_containers
from deployverify.local import postgres, procs, stack
from deployverify.target import Target, load_target
from fixtures.incidents.materialize import materialize
from tests.support.env import TEST_IMAGE, require_docker

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def incident_target(variant: str, dest: Path, env: dict[str, str]) -> Target:
    """The example's target file in a materialized incident copy, its repository-relative paths made absolute."""
    copy = materialize(variant, dest)
    text = (copy / "deployverify.yaml").read_text(encoding="utf-8")
    (copy / "deployverify.yaml").write_text(text.replace("../../fixtures/", f"{REPO_ROOT}/fixtures/"),
                                            encoding="utf-8")
    return load_target(copy / "deployverify.yaml", env={**os.environ, **env})


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, stack.UpResult]]:
    require_docker()
    cache = tmp_path_factory.mktemp("local-broken-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DV_CACHE_DIR", str(cache))
        patch.setenv("DV_LOCAL_RETRY_DELAY_S", "0")
        target = incident_target("missing_shared_module", tmp_path_factory.mktemp("incident") / "docworker", {
            "DV_IMAGE": TEST_IMAGE, "DV_LOCAL_DATABASE_URL": "", "DV_LOCAL_MOTO_PORT": str(procs.free_port())})
        try:
            yield target, stack.up(target, require_image=True)
        finally:
            stack.down()
            clear_cache()


def aws(result: stack.UpResult, service: str) -> Any:
    return client(service, region_name=result.env["AWS_REGION"], endpoint_url=result.env["AWS_ENDPOINT_URL"],
                  credentials=("testing", "testing"))


def test_init_failure_is_reported_like_lambda(broken: tuple[Target, stack.UpResult]) -> None:
    worker = stack.status()["workers"]["docworker-dev-worker"]
    assert worker["alive"] is True
    assert worker["status"] == "init_error"
    assert worker["error"] == ("Runtime.ImportModuleError: Unable to import module 'process_document_lambda': "
                               "No module named 'shared.storage'")


def test_embedded_postgres_serves_the_secret_and_schema(broken: tuple[Target, stack.UpResult]) -> None:
    _, result = broken
    assert result.state.database is not None
    assert result.state.database.mode == "embedded"
    secret = json.loads(aws(result, "secretsmanager").get_secret_value(
        SecretId="docworker/dev/database")["SecretString"])
    assert (secret["username"], secret["database"], secret["host"]) == ("docworker", "credmate", "127.0.0.1")
    conn = postgres.Connection(secret["host"], secret["port"], secret["username"], secret["password"],
                               secret["database"])
    with conn.connect() as db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM documents")
        assert cur.fetchone() == (0,)


def test_messages_fail_with_the_init_error_and_reach_the_dlq(broken: tuple[Target, stack.UpResult]) -> None:
    _, result = broken
    sqs = aws(result, "sqs")
    queues = result.state.resources.queues
    message_id = sqs.send_message(QueueUrl=queues["DocumentQueue"].url, MessageBody='{"document_id": 1}',
                                  MessageGroupId="g", MessageDeduplicationId=uuid.uuid4().hex)["MessageId"]

    def poll() -> tuple[bool, list[str]]:
        found = sqs.receive_message(QueueUrl=queues["DocumentDLQ"].url, MaxNumberOfMessages=10).get("Messages", [])
        return any(m["MessageId"] == message_id for m in found), [m["MessageId"] for m in found]

    assert wait_for("the message in the DLQ", 90, poll, announce=False).done
    attempts = [r for r in stack.invocations() if message_id in r["message_ids"]]
    assert [r["error_type"] for r in attempts] == ["Runtime.ImportModuleError"] * 3

    group = result.state.resources.functions["DocumentWorkerFunction"].log_group
    messages = [e["message"] for e in aws(result, "logs").filter_log_events(logGroupName=group)["events"]]
    text = "\n".join(messages)
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module 'process_document_lambda': " \
           "No module named 'shared.storage'\nTraceback (most recent call last):" in text
    assert sum(m.startswith("INIT_REPORT Init Duration:") and m.endswith(
        "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError") for m in messages) >= 3
    reports = [m for m in messages if m.startswith("REPORT RequestId:")]
    assert reports
    assert all(m.endswith("Status: error\tError Type: Runtime.ImportModuleError") for m in reports)


def test_down_removes_every_process_and_the_embedded_postgres(broken: tuple[Target, stack.UpResult]) -> None:
    state = stack.read_state()
    assert state is not None
    refs = [state.moto.process if state.moto else None,
            state.workers["docworker-dev-worker"].process]
    embedded = state.database.embedded if state.database else None
    assert embedded is not None
    assert postgres.running(embedded)

    outcome = stack.down()

    assert outcome["left"] == []
    assert not any(procs.alive(ref) for ref in refs)
    assert list_containers({stack.STACK_LABEL: state.stack_id}) == []
    assert not postgres.running(embedded)
    assert not embedded.data_dir.exists()
    assert stack.status() == {"up": False, "state": str(stack.state_path())}
