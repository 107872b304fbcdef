"""The local stack, for real: a moto server, Postgres, and the example worker's real handler in the Lambda image.

One stack is started for the module (its own cache folder and moto port, the test Postgres as its database) and
taken down in `finally`. Each test drives it the way the smoke suite will: boto3 against AWS_ENDPOINT_URL, rows in
Postgres, the fixture PDFs.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployverify.aws.session import clear_cache, client
from deployverify.core.waits import wait_for
from deployverify.core.zipper import code_sha256, zip_bundle
from deployverify.lambda_image.docker import list_containers
from deployverify.local import postgres, procs, stack
from deployverify.local.stack_state import StackResources
from deployverify.target import Target, load_target
from tests.support.env import TEST_DATABASE_URL, TEST_IMAGE, require_docker, require_postgres

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TARGET = REPO_ROOT / "examples" / "docworker" / "deployverify.yaml"
DOCUMENTS = REPO_ROOT / "fixtures" / "documents"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((DOCUMENTS / "expected.yaml").read_text(encoding="utf-8"))

RUN_ID = "test-local-stack"

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Stack:
    target: Target
    result: stack.UpResult
    cache: Path

    @property
    def resources(self) -> StackResources:
        return self.result.state.resources

    def aws(self, service: str) -> Any:
        return client(service, region_name=self.result.env["AWS_REGION"],
                      endpoint_url=self.result.env["AWS_ENDPOINT_URL"], credentials=("testing", "testing"))

    def db(self) -> postgres.Connection:
        assert self.result.state.database is not None
        return self.result.state.database.connection


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_docker()
    require_postgres()
    cache = tmp_path_factory.mktemp("local-cache")
    env = {"DV_CACHE_DIR": str(cache), "DV_LOCAL_RETRY_DELAY_S": "0"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        target = load_target(EXAMPLE_TARGET, env={
            **os.environ, "DV_IMAGE": TEST_IMAGE, "DV_LOCAL_DATABASE_URL": TEST_DATABASE_URL,
            "DV_LOCAL_MOTO_PORT": str(procs.free_port())})
        up = None
        try:
            up = Stack(target, stack.up(target, require_image=True), cache)
            yield up
        finally:
            if up is not None:
                with up.db().connect() as db, db.cursor() as cur:
                    cur.execute("DELETE FROM documents WHERE run_id = %s", (RUN_ID,))
            stack.down()
            clear_cache()


def send_document(s: Stack, pdf: Path) -> int:
    """What the API does on upload: object in S3, `uploaded` row, message on the FIFO queue."""
    key = f"deployverify/test/{uuid.uuid4().hex}/{pdf.name}"
    s.aws("s3").put_object(Bucket=s.resources.buckets["DocumentBucket"], Key=key, Body=pdf.read_bytes())
    with s.db().connect() as db, db.cursor() as cur:
        cur.execute("INSERT INTO documents (s3_key, original_filename, run_id) VALUES (%s, %s, %s) RETURNING id",
                    (key, pdf.name, RUN_ID))
        document_id: int = cur.fetchone()[0]
    send(s, {"document_id": document_id, "run_id": RUN_ID})
    return document_id


def send(s: Stack, body: dict[str, Any]) -> str:
    response = s.aws("sqs").send_message(
        QueueUrl=s.resources.queues["DocumentQueue"].url, MessageBody=json.dumps(body),
        MessageGroupId=uuid.uuid4().hex, MessageDeduplicationId=uuid.uuid4().hex)
    message_id: str = response["MessageId"]
    return message_id


def final_row(s: Stack, document_id: int) -> tuple[Any, ...]:
    def poll() -> tuple[bool, tuple[Any, ...]]:
        with s.db().connect() as db, db.cursor() as cur:
            cur.execute("SELECT status, document_type, confidence, fields, error FROM documents WHERE id = %s",
                        (document_id,))
            row: tuple[Any, ...] = cur.fetchone()
        return row[0] in ("processed", "failed"), row

    waited = wait_for(f"document {document_id} to finish", 60, poll, announce=False)
    assert waited.last is not None
    return waited.last


def log_messages(s: Stack) -> list[str]:
    logs = s.aws("logs")
    group = s.resources.functions["DocumentWorkerFunction"].log_group
    events = logs.filter_log_events(logGroupName=group)["events"]
    return [e["message"] for e in events]


def test_up_creates_every_resource_of_the_template(local_stack: Stack) -> None:
    s = local_stack
    bucket = s.resources.buckets["DocumentBucket"]
    assert bucket == "docworker-dev-documents-123456789012"
    encryption = s.aws("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    sqs = s.aws("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=s.resources.queues["DocumentQueue"].url,
                                     AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=s.resources.queues["DocumentDLQ"].url,
                                   AttributeNames=["All"])["Attributes"]
    assert (queue["FifoQueue"], dlq["FifoQueue"], queue["VisibilityTimeout"]) == ("true", "true", "960")
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 3}
    assert dlq["MessageRetentionPeriod"] == "1209600"

    secret = json.loads(s.aws("secretsmanager").get_secret_value(SecretId="docworker/dev/database")["SecretString"])
    assert set(secret) == {"host", "port", "username", "password", "database", "sslmode"}
    assert isinstance(secret["port"], int)
    conn = postgres.Connection(secret["host"], secret["port"], secret["username"], secret["password"],
                               secret["database"])
    with conn.connect() as db, db.cursor() as cur:
        cur.execute("SELECT to_regclass('documents') IS NOT NULL")
        assert cur.fetchone() == (True,)

    function = s.aws("lambda").get_function(FunctionName="docworker-dev-worker")
    config = function["Configuration"]
    assert (config["Runtime"], config["Handler"], config["Timeout"], config["MemorySize"]) == (
        "python3.11", "process_document_lambda.handler", 900, 1024)
    assert config["Environment"]["Variables"]["DOCUMENT_BUCKET"] == bucket
    assert config["Environment"]["Variables"]["DB_SECRET_ID"].startswith(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:docworker/dev/database")
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 10
    assert config["CodeSha256"] == code_sha256(zip_bundle(s.target.bundle.output))

    groups = s.aws("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/docworker-dev-worker")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/aws/lambda/docworker-dev-worker"]
    assert s.result.warnings == ()


@pytest.mark.parametrize("pdf", sorted(EXPECTED))
def test_fixture_pdf_is_processed_by_the_real_handler_in_the_container(local_stack: Stack, pdf: str) -> None:
    document_id = send_document(local_stack, DOCUMENTS / pdf)
    status, document_type, confidence, fields, error = final_row(local_stack, document_id)
    assert (status, error) == ("processed", None)
    assert document_type == EXPECTED[pdf]["document_type"]
    assert confidence >= EXPECTED[pdf]["min_confidence"]
    assert fields == EXPECTED[pdf]["fields"]


def test_logs_have_start_end_report_around_the_document_lines(local_stack: Stack) -> None:
    document_id = send_document(local_stack, DOCUMENTS / "cme_certificate.pdf")
    assert final_row(local_stack, document_id)[0] == "processed"
    marker = f"Processing document {document_id} "

    def poll() -> tuple[bool, list[str]]:
        messages = log_messages(local_stack)
        return any(m.startswith("REPORT") for m in messages[_index(messages, marker):]), messages

    messages = wait_for("the invocation's REPORT line", 30, poll, announce=False).last or []
    line = _index(messages, marker)
    request_id = messages[line].split("\t")[2]
    start = messages.index(f"START RequestId: {request_id} Version: $LATEST")
    end = messages.index(f"END RequestId: {request_id}")
    report = next(m for m in messages if m.startswith(f"REPORT RequestId: {request_id}\t"))
    assert start < line < end < messages.index(report)
    assert f"Classified as: cme_certificate (1.00) [document {document_id}]" in "\n".join(messages[line:end])
    fields = dict(part.split(": ", 1) for part in report.split("\t")[1:])
    assert fields["Memory Size"] == "1024 MB"
    assert float(fields["Duration"].removesuffix(" ms")) > 0
    assert int(fields["Billed Duration"].removesuffix(" ms")) >= 1
    assert int(fields["Max Memory Used"].removesuffix(" MB")) > 0

    records = [r for r in stack.invocations() if r["request_id"] == request_id]
    assert len(records) == 1
    assert records[0]["status"] == "success"
    assert records[0]["duration_ms"] == pytest.approx(float(fields["Duration"].removesuffix(" ms")), abs=0.01)


def _index(messages: list[str], marker: str) -> int:
    return next((i for i, m in enumerate(messages) if marker in m), len(messages))


def test_a_poison_message_reaches_the_dlq_after_max_receive_count(local_stack: Stack) -> None:
    message_id = send(local_stack, {"document_id": "not-a-number"})
    dlq = local_stack.resources.queues["DocumentDLQ"].url
    sqs = local_stack.aws("sqs")

    def poll() -> tuple[bool, list[dict[str, Any]]]:
        found = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        return any(m["MessageId"] == message_id for m in found), found

    moved = wait_for("the poison message in the DLQ", 60, poll, announce=False)
    assert moved.done, f"not in the DLQ; invocations: {stack.invocations()[-4:]}"
    attempts = [r for r in stack.invocations() if message_id in r["message_ids"]]
    assert [r["status"] for r in attempts] == ["error"] * 3
    assert [r["receive_counts"] for r in attempts] == [[1], [2], [3]]
    assert {r["error_type"] for r in attempts} == {"InvalidMessageError"}
    for message in moved.last or []:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])


def test_up_again_keeps_what_runs(local_stack: Stack) -> None:
    before = stack.read_state()
    assert before is not None
    again = stack.up(local_stack.target, require_image=True)
    assert again.state.moto == before.moto
    worker = "docworker-dev-worker"
    assert again.state.workers[worker].process == before.workers[worker].process
    report = stack.status()
    assert report["healthy"] is True
    assert report["workers"][worker]["status"] == "ready"
    assert report["env"]["AWS_ENDPOINT_URL"] == local_stack.result.env["AWS_ENDPOINT_URL"]


def test_the_worker_overhead_is_recorded_per_invocation(local_stack: Stack) -> None:
    document_id = send_document(local_stack, DOCUMENTS / "dea_registration.pdf")
    assert final_row(local_stack, document_id)[0] == "processed"
    body = json.dumps({"document_id": document_id, "run_id": RUN_ID})

    def poll() -> tuple[bool, list[dict[str, Any]]]:
        found = [r for r in stack.invocations() if body in r["bodies"]]
        return bool(found), found

    records = wait_for("the invocation record", 10, poll, announce=False).last or []
    assert len(records) == 1
    record = records[0]
    assert record["settled_at"] >= record["received_at"] >= record["sent_at"] > 0
    assert record["overhead_ms"] >= 0


def test_down_after_a_crash_leaves_nothing_behind(local_stack: Stack) -> None:
    """Runs last: SIGKILL the worker and moto (the runtimes' containers survive them), then `down`."""
    state = stack.read_state()
    assert state is not None
    labels = {stack.STACK_LABEL: state.stack_id}
    worker = state.workers["docworker-dev-worker"].process
    moto = state.moto.process if state.moto else None
    assert worker is not None
    assert moto is not None
    for ref in (worker, moto):
        os.kill(ref.pid, signal.SIGKILL)
    gone = wait_for("the killed processes to exit", 10,
                    lambda: (not procs.alive(worker) and not procs.alive(moto), None), announce=False)
    assert gone.done
    # The crash left the runtimes' containers running: one per execution environment the worker had started.
    assert 1 <= len(list_containers(labels)) <= state.workers["docworker-dev-worker"].config.concurrency

    outcome = stack.down()

    assert outcome["left"] == []
    assert any(line.endswith("container(s)") for line in outcome["removed"])
    assert list_containers(labels) == []
    assert stack.read_state() is None
    assert stack.status()["up"] is False
