"""Create the template's resources in the emulated AWS, idempotently: a second `up` converges instead of failing.

Bucket (with its encryption and public access block), queues (dead-letter queues first, then the queues whose
RedrivePolicy names them, with the template's maxReceiveCount), secrets (the database secret filled in to reach the
local Postgres), an IAM role, the log group, and each function with the built bundle's deterministic zip and the
template's runtime, handler, timeout, memory, reserved concurrency and environment.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from deployverify.core import redact
from deployverify.core.errors import DeployVerifyError
from deployverify.core.zipper import code_sha256
from deployverify.local.postgres import Connection
from deployverify.sam.template import FunctionSpec, LocalValues, QueueSpec, SecretSpec, StackSpec

DATABASE_NAME_KEYS = ("database", "dbname", "db_name")
LOCAL_SSLMODE = "prefer"  # the local Postgres has no TLS; "require" from the template could never connect
PLACEHOLDERS = ("host", "port", "username", "password", "database")
_TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@dataclass
class Created:
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> name
    queues: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> name, url, arn
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> name, arn
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> name, arn, sha, env, ...

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "queues": self.queues, "secrets": self.secrets, "functions": self.functions}


def database_secret_value(spec: SecretSpec, db: Connection, overrides: dict[str, Any]) -> dict[str, Any]:
    """The secret's JSON: the target's `local.secret_values` (with {host} {port} {username} {password} {database}
    filled in), or the template's SecretStringTemplate with the local Postgres's values under the same key names."""
    values = db.to_dict()
    if overrides:
        return {key: _fill(value, values) for key, value in overrides.items()}
    secret = dict(spec.template_value)
    secret["host"] = db.host
    secret["port"] = db.port
    user_key = next((k for k in ("username", "user") if k in secret), "username")
    secret[user_key] = db.username
    name_key = next((k for k in DATABASE_NAME_KEYS if k in secret), "database")
    secret[name_key] = db.database
    secret[spec.generate_key or "password"] = db.password
    if "sslmode" in secret:
        secret["sslmode"] = LOCAL_SSLMODE
    return secret


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    for name in PLACEHOLDERS:
        if value == f"{{{name}}}":
            return values[name]  # "{port}" alone stays an integer
    for name in PLACEHOLDERS:
        value = value.replace(f"{{{name}}}", str(values[name]))
    return value


def _generated(spec: SecretSpec) -> dict[str, Any]:
    value = dict(spec.template_value)
    alphabet = string.ascii_letters + string.digits
    value[spec.generate_key or "password"] = "".join(secrets.choice(alphabet) for _ in range(spec.length))
    return value


class Creator:
    def __init__(self, spec: StackSpec, values: LocalValues, make_client: Callable[[str], Any]) -> None:
        self.spec = spec
        self.values = values
        self.client = make_client
        self.created = Created()

    def all(self, *, zip_bytes: bytes, db: Connection | None, database_secret: str | None,
            secret_overrides: dict[str, Any]) -> Created:
        for bucket in self.spec.buckets:
            self.bucket(bucket.name, bucket.encryption, bucket.block_public_access)
            self.created.buckets[bucket.logical_id] = bucket.name
        dlqs = {q.dead_letter_queue for q in self.spec.queues if q.dead_letter_queue}
        for queue in sorted(self.spec.queues, key=lambda q: q.logical_id not in dlqs):
            self.queue(queue)
        for secret in self.spec.secrets:
            if db is not None and (secret.name == database_secret or len(self.spec.secrets) == 1):
                value = database_secret_value(secret, db, secret_overrides)
            elif secret.secret_string is not None:
                value = json.loads(secret.secret_string) if secret.secret_string.strip().startswith("{") \
                    else {"value": secret.secret_string}
            else:
                value = _generated(secret)
            redact.register_mapping(value)
            self.secret(secret, value)
        for fn in self.spec.functions:
            self.function(fn, zip_bytes)
        return self.created

    def bucket(self, name: str, encryption: str | None, block_public: bool) -> None:
        s3 = self.client("s3")
        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            extra = {} if self.spec.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": self.spec.region}}
            s3.create_bucket(Bucket=name, **extra)
        if encryption:
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": encryption}}]})
        if block_public:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True})

    def queue(self, queue: QueueSpec) -> None:
        sqs = self.client("sqs")
        attributes = {"VisibilityTimeout": str(queue.visibility_timeout_s)}
        if queue.retention_s is not None:
            attributes["MessageRetentionPeriod"] = str(queue.retention_s)
        if queue.fifo:
            attributes["FifoQueue"] = "true"
            attributes["ContentBasedDeduplication"] = "true" if queue.content_based_deduplication else "false"
        if queue.dead_letter_queue:
            dlq = self.created.queues[queue.dead_letter_queue]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq["arn"],
                                                      "maxReceiveCount": queue.max_receive_count or 1})
        try:
            url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
            mutable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
            sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
        except ClientError as exc:
            if "NonExistentQueue" not in str(exc) and "QueueDoesNotExist" not in str(exc):
                raise
            url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.created.queues[queue.logical_id] = {"name": queue.name, "url": url, "arn": arn}
        self.values.refs[queue.logical_id] = url
        self.values.attributes[(queue.logical_id, "QueueUrl")] = url
        self.values.attributes[(queue.logical_id, "Arn")] = arn

    def secret(self, secret: SecretSpec, value: dict[str, Any]) -> None:
        sm = self.client("secretsmanager")
        text = json.dumps(value)
        try:
            arn = sm.describe_secret(SecretId=secret.name)["ARN"]
            sm.put_secret_value(SecretId=secret.name, SecretString=text)
        except ClientError as exc:
            if "ResourceNotFound" not in str(exc):
                raise
            extra = {"Description": secret.description} if secret.description else {}
            arn = sm.create_secret(Name=secret.name, SecretString=text, **extra)["ARN"]
        self.created.secrets[secret.logical_id] = {"name": secret.name, "arn": arn}
        self.values.refs[secret.logical_id] = arn  # !Ref of a secret is its ARN

    def role(self, name: str) -> str:
        iam = self.client("iam")
        try:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except ClientError:
            return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=_TRUST_POLICY)["Role"]["Arn"])

    def function(self, fn: FunctionSpec, zip_bytes: bytes) -> None:
        lam = self.client("lambda")
        env = self.values.variables(fn.environment, ("Resources", fn.logical_id, "Properties", "Environment",
                                                     "Variables"))
        sha = code_sha256(zip_bytes)
        config: dict[str, Any] = {"Runtime": fn.runtime, "Handler": fn.handler, "Timeout": fn.timeout_s,
                                  "MemorySize": fn.memory_mb, "Environment": {"Variables": env}}
        if fn.description:
            config["Description"] = fn.description
        try:
            current = lam.get_function(FunctionName=fn.function_name)["Configuration"]
        except ClientError:
            current = None
        if current is None:
            role = self.role(f"{fn.function_name}-role"[:64])
            lam.create_function(FunctionName=fn.function_name, Role=role, Code={"ZipFile": zip_bytes},
                                Architectures=[fn.architecture], Publish=False, **config)
        else:
            if current.get("CodeSha256") != sha:
                lam.update_function_code(FunctionName=fn.function_name, ZipFile=zip_bytes)
            lam.update_function_configuration(FunctionName=fn.function_name, **config)
        if fn.reserved_concurrency is not None:
            lam.put_function_concurrency(FunctionName=fn.function_name,
                                         ReservedConcurrentExecutions=fn.reserved_concurrency)
        deployed = lam.get_function(FunctionName=fn.function_name)["Configuration"]
        if deployed.get("CodeSha256") != sha:
            raise DeployVerifyError(f"moto reports CodeSha256 {deployed.get('CodeSha256')!r} for the zip whose "
                                    f"SHA-256 is {sha!r}", where=f"function {fn.function_name}")
        logs = self.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=fn.log_group)
        self.created.functions[fn.logical_id] = {"name": fn.function_name, "arn": deployed["FunctionArn"],
                                                 "code_sha256": sha, "environment": env, "log_group": fn.log_group}
