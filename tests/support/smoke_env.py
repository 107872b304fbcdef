"""What the smoke engine's tests run against: a real moto server on loopback, a scratch Postgres database, AWS
resources named per test, and a scripted worker.

The scripted worker stands in for the system under test (not for the harness): it consumes the trigger queue and
writes Lambda-format logs (START, lines, END, REPORT) into CloudWatch Logs like the local stack's worker does, but
its behaviour is chosen per test (a correct worker, the mock incident, an import error, a slow one...), which is how
each check gets a fixture that makes it fail. End-to-end runs of the real worker go through the local stack.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import yaml
from psycopg2 import sql

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "docworker"
DOCUMENTS = REPO / "fixtures" / "documents"
REGION = "us-east-1"
ACCOUNT = "123456789012"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# -- moto and Postgres -------------------------------------------------------------------------------------------------


def aws_client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION, **CREDENTIALS)


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    username: str
    password: str
    name: str

    def connect(self) -> Any:
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.username, password=self.password,
                                dbname=self.name, connect_timeout=5)
        conn.autocommit = True
        return conn

    def secret(self, **extra: Any) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "username": self.username, "password": self.password,
                "database": self.name, "sslmode": "prefer", **extra}


# -- one test's resources ----------------------------------------------------------------------------------------------


def small_bundle(dest: Path, source: Path = EXAMPLE) -> Path:
    """The example's first-party code laid out as build.sh lays it out, without the pip dependencies."""
    shutil.copytree(source / "apps" / "worker-tasks" / "src", dest, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(source / "apps" / "backend-api" / "src" / "shared", dest / "shared",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@dataclass
class Resources:
    """Bucket, FIFO queue with a DLQ, secret, log group and function, all named after one test."""

    url: str
    prefix: str
    database: Database
    secret_value: dict[str, Any]
    bucket: str = ""
    queue_url: str = ""
    dlq_url: str = ""
    secret_id: str = ""
    function: str = ""
    log_group: str = ""
    environment: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return aws_client(service, self.url)

    def create(self, *, max_receive_count: int = 2, with_function: bool = True, bundle: Path | None = None) -> None:
        s3, sqs = self.client("s3"), self.client("sqs")
        self.bucket = f"{self.prefix}-documents"
        s3.create_bucket(Bucket=self.bucket)
        self.dlq_url = sqs.create_queue(QueueName=f"{self.prefix}-dlq.fifo",
                                        Attributes={"FifoQueue": "true"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        self.queue_url = sqs.create_queue(QueueName=f"{self.prefix}-documents.fifo", Attributes={
            "FifoQueue": "true", "VisibilityTimeout": "5",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}),
        })["QueueUrl"]
        self.secret_id = f"{self.prefix}/database"
        self.client("secretsmanager").create_secret(Name=self.secret_id, SecretString=json.dumps(self.secret_value))
        self.function = f"{self.prefix}-worker"
        self.log_group = f"/aws/lambda/{self.function}"
        self.client("logs").create_log_group(logGroupName=self.log_group)
        self.environment = {"DB_SECRET_ID": self.secret_id, "DOCUMENT_BUCKET": self.bucket, "LOG_LEVEL": "INFO",
                            "SERVICE_NAME": "docworker", "STAGE": "test"}
        if with_function and bundle is not None:
            self.deploy(bundle)

    def deploy(self, bundle: Path, **overrides: Any) -> None:
        from deployverify.core.zipper import zip_bundle

        iam = self.client("iam")
        role = f"{self.prefix}-role"
        try:
            arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))[
                "Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        settings = {"Runtime": "python3.11", "Handler": "process_document_lambda.handler", "Timeout": 900,
                    "MemorySize": 1024, "Environment": {"Variables": self.environment}, **overrides}
        lam = self.client("lambda")
        lam.create_function(FunctionName=self.function, Role=arn, Code={"ZipFile": zip_bundle(bundle)}, **settings)
        lam.put_function_concurrency(FunctionName=self.function, ReservedConcurrentExecutions=10)

    def target(self, folder: Path, bundle: Path, **changes: Any) -> Path:
        """A target file for these resources; `changes` replace top-level sections (None deletes one)."""
        documents = yaml.safe_load((DOCUMENTS / "expected.yaml").read_text())
        raw: dict[str, Any] = {
            "name": self.prefix, "runtime": "python3.11", "region": REGION,
            "bundle": {"output": str(bundle)},
            "functions": [{"name": "DocumentWorkerFunction", "handler": "process_document_lambda.handler",
                           "function_name": self.function, "timeout_s": 900, "memory_mb": 1024,
                           "reserved_concurrency": 10, "environment": self.environment}],
            "secrets": [{"id": self.secret_id, "name": "database", "env": "DB_SECRET_ID",
                         "required": ["host", "port", "username", "password", "database"],
                         "aliases": {"database": ["dbname", "db_name"]},
                         "types": {"host": "string", "port": "integer", "username": "string"}}],
            "database": {"secret": "database", "connect_timeout_s": 5},
            "seed": {"email": f"{self.prefix}@test.com", "sql": str(REPO / "fixtures" / "seed" / "test_user.sql")},
            "pipeline": {
                "bucket": self.bucket, "key_prefix": "deployverify",
                "trigger": {"type": "sqs", "queue": self.queue_url}, "timeout_s": 20,
                "documents": [{"file": str(DOCUMENTS / name), "expect": {
                    "type": spec["document_type"], "min_confidence": spec["min_confidence"],
                    "fields": spec["fields"]}} for name, spec in documents.items()]},
            "logs": {"group": self.log_group, "markers": ["Processing document {document_id}", "Classified as:"],
                     "max_duration_ms": 60000},
            "dlq": {"queue": self.dlq_url},
            "canary": {"window_min": 10, "max_queue_age_s": 900},
        }
        for key, value in changes.items():
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value
        path = folder / "deployverify.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path


# -- a scripted worker -------------------------------------------------------------------------------------------------

Behaviour = Callable[["Job"], "Result"]


@dataclass
class Job:
    document_id: int
    row: dict[str, Any]
    conn: Any
    expected: dict[str, Any]

    def update(self, **values: Any) -> None:
        assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in values)
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("UPDATE documents SET {} WHERE id = %s").format(assignments),
                        [*(json.dumps(v) if isinstance(v, dict) else v for v in values.values()), self.document_id])


@dataclass
class Result:
    lines: list[str]
    ok: bool = True  # False: the message is not deleted (SQS redelivers it, then dead-letters it)
    duration_ms: float = 120.0
    init_error: str | None = None


def correct(job: Job) -> Result:
    spec = job.expected
    job.update(status="processing")
    job.update(status="processed", document_type=spec["document_type"], confidence=0.97, fields=spec["fields"])
    return Result([f"Processing document {job.document_id} (run x)",
                   f"Database connection established [document {job.document_id}]",
                   f"Classified as: {spec['document_type']} (0.97) [document {job.document_id}]"])


def mock(job: Job) -> Result:
    return Result([f"Processing document {job.document_id}"])


def empty_processed(job: Job) -> Result:
    job.update(status="processed")
    return Result([f"Processing document {job.document_id}", "Classified as: nothing"])


def wrong_field(job: Job) -> Result:
    spec = job.expected
    fields = {**spec["fields"], "name": "Somebody Else"} if spec["fields"] else {}
    job.update(status="processed", document_type=spec["document_type"], confidence=0.4, fields=fields)
    return Result([f"Processing document {job.document_id}", "Classified as: x"])


def import_error(job: Job) -> Result:
    return Result([], ok=False, init_error="Runtime.ImportModuleError: Unable to import module "
                  "'process_document_lambda': No module named 'worker_tasks'")


def slow(job: Job) -> Result:
    result = correct(job)
    result.duration_ms = 75000.0
    return result


def traceback_then_ok(job: Job) -> Result:
    result = correct(job)
    result.lines.append("Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom")
    return result


def crash(job: Job) -> Result:
    return Result([f"Processing document {job.document_id}",
                   f"[ERROR] OperationalError: connection failed [document {job.document_id}]\n"
                   "Traceback (most recent call last):\n  File \"db.py\", line 9, in connect"], ok=False)


class ScriptedWorker:
    """Consumes the trigger queue like Lambda's event source mapping and writes Lambda-format logs; `consumers`
    invocations may run at once (each in its own log stream, as Lambda's execution environments do)."""

    def __init__(self, resources: Resources, behaviour: Behaviour, consumers: int = 1) -> None:
        self.resources = resources
        self.behaviour = behaviour
        self.sqs = resources.client("sqs")
        self.logs = resources.client("logs")
        self.expected = yaml.safe_load((DOCUMENTS / "expected.yaml").read_text())
        self.stop = threading.Event()
        self.threads = []
        for _ in range(consumers):
            stream = f"2026/01/01/[$LATEST]{uuid.uuid4().hex}"
            self.logs.create_log_stream(logGroupName=resources.log_group, logStreamName=stream)
            self.threads.append(threading.Thread(target=self._run, args=(stream,), daemon=True))
        self.handled = 0

    def __enter__(self) -> ScriptedWorker:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _log(self, stream: str, lines: list[str]) -> None:
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
        self.logs.put_log_events(logGroupName=self.resources.log_group, logStreamName=stream, logEvents=events)

    def _run(self, stream: str) -> None:
        conn = self.resources.database.connect()
        try:
            while not self.stop.is_set():
                messages = self.sqs.receive_message(QueueUrl=self.resources.queue_url, MaxNumberOfMessages=1,
                                                    WaitTimeSeconds=1, VisibilityTimeout=1).get("Messages", [])
                for message in messages:
                    self._handle(conn, stream, message)
        finally:
            conn.close()

    def _handle(self, conn: Any, stream: str, message: dict[str, Any]) -> None:
        body = json.loads(message["Body"])
        document_id = int(body["document_id"])
        with conn.cursor() as cur:
            cur.execute("SELECT original_filename FROM documents WHERE id = %s", (document_id,))
            row = cur.fetchone()
        name = row[0] if row else ""
        request = str(uuid.uuid4())
        result = self.behaviour(Job(document_id, {"original_filename": name}, conn, self.expected.get(name, {
            "document_type": "unknown", "fields": {}})))
        lines = []
        if result.init_error:
            lines.append(f"[ERROR] {result.init_error}\nTraceback (most recent call last):")
            lines.append(f"INIT_REPORT Init Duration: 80.00 ms\tPhase: init\tStatus: error\tError Type: "
                         f"{result.init_error.split(':')[0]}")
        lines.append(f"START RequestId: {request} Version: $LATEST")
        for line in result.lines:
            level, text = ("ERROR", line[8:]) if line.startswith("[ERROR] ") else ("INFO", line)
            lines.append(f"[{level}]\t2026-01-01T00:00:00.000Z\t{request}\t{text}")
        lines.append(f"END RequestId: {request}")
        lines.append(f"REPORT RequestId: {request}\tDuration: {result.duration_ms:.2f} ms\tBilled Duration: "
                     f"{int(result.duration_ms) + 1} ms\tMemory Size: 1024 MB\tMax Memory Used: 90 MB")
        self._log(stream, lines)
        if result.ok:
            self.sqs.delete_message(QueueUrl=self.resources.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.handled += 1
