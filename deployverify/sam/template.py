"""What the SAM template declares, resolved for a local stack: bucket, queues, secrets and functions with real names.

The template is read by deployverify.sam.reader (line-aware, short tags in long form) and functions get Globals
merged as deployverify.sam.application merges them. Only what the local stack creates is read:
AWS::Serverless::Function (with its SQS event), AWS::S3::Bucket, AWS::SQS::Queue and AWS::SecretsManager::Secret.
Intrinsics are resolved the way CloudFormation would with the parameters' defaults: Ref, Fn::Sub (both forms),
Fn::GetAtt (Arn, QueueName, QueueUrl), Fn::Join and the pseudo parameters. Anything else is reported with the
resource it sits in, instead of silently becoming a wrong name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployverify.core.errors import DeployVerifyError
from deployverify.sam.application import merge_globals
from deployverify.sam.reader import load_document

MOTO_ACCOUNT_ID = "123456789012"  # moto's default account; every ARN the local stack shows carries it
DEFAULT_SQS_BATCH_SIZE = 10  # Lambda's default for an SQS event source
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    encryption: str | None = None
    block_public_access: bool = False


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    fifo: bool = False
    visibility_timeout_s: int = 30
    retention_s: int | None = None
    content_based_deduplication: bool = False
    dead_letter_queue: str | None = None  # logical id of the DLQ
    max_receive_count: int | None = None


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str
    description: str | None = None
    template_value: dict[str, Any] = field(default_factory=dict)
    generate_key: str | None = None
    length: int = 32
    secret_string: str | None = None


@dataclass(frozen=True)
class SqsEvent:
    queue: str  # logical id
    batch_size: int = DEFAULT_SQS_BATCH_SIZE
    enabled: bool = True
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    function_name: str
    runtime: str
    handler: str
    timeout_s: int = 3
    memory_mb: int = 128
    reserved_concurrency: int | None = None
    architecture: str = "x86_64"
    description: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # unresolved: Refs need the created resources
    sqs: SqsEvent | None = None

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


@dataclass(frozen=True)
class StackSpec:
    template: Path
    region: str
    account_id: str
    parameters: dict[str, str]
    buckets: tuple[BucketSpec, ...]
    queues: tuple[QueueSpec, ...]
    secrets: tuple[SecretSpec, ...]
    functions: tuple[FunctionSpec, ...]
    ignored: tuple[str, ...] = ()

    def queue(self, logical_id: str) -> QueueSpec:
        return next(q for q in self.queues if q.logical_id == logical_id)


class TemplateNameResolver:
    """Resolves intrinsics. `refs` and `attributes` grow as resources are created (a secret's ARN, for one)."""

    def __init__(self, template: Path, parameters: Mapping[str, str], region: str, account_id: str,
                 stack_name: str, lines: Callable[[tuple[str, ...]], int] | None = None) -> None:
        self.template = template
        self._line = lines
        self.pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name,
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": ""}
        self.refs: dict[str, str] = dict(parameters)
        self.attributes: dict[tuple[str, str], str] = {}

    def fail(self, where: str, message: str) -> DeployVerifyError:
        """`template.yaml:14 Resources.Q.Properties.QueueName: ...`: the line of the dotted path, when known."""
        line = f":{self._line(tuple(where.split('.')))}" if self._line else ""
        return DeployVerifyError(message, where=f"{self.template}{line} {where}")

    def ref(self, name: str, where: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        raise self.fail(where, f"!Ref {name}: not a parameter or a resource the local stack has created yet")

    def get_att(self, logical: str, attribute: str, where: str) -> str:
        try:
            return self.attributes[(logical, attribute)]
        except KeyError:
            raise self.fail(where, f"!GetAtt {logical}.{attribute}: not known to the local stack") from None

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, where) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(str(arg), where)
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                return self.get_att(str(parts[0]), str(parts[1]), where)
            if key == "Fn::Join":
                separator, items = arg
                return str(separator).join(str(self.resolve(i, where)) for i in items)
            if key.startswith("Fn::"):
                raise self.fail(where, f"{key} is not supported by the local stack; use a parameter default")
        return {k: self.resolve(v, where) for k, v in value.items()}

    def _sub(self, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: str(self.resolve(v, where)) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return local[name]
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute, where)
            return self.ref(name, where)

        return _SUB_VAR.sub(one, str(text))


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def load_stack_spec(template_path: Path, *, region: str, account_id: str = MOTO_ACCOUNT_ID,
                    stack_name: str = "deployverify-local",
                    parameter_overrides: Mapping[str, str] | None = None) -> tuple[StackSpec, TemplateNameResolver]:
    document = load_document(template_path)
    template = document.value
    parameters = {name: str(p.get("Default", "")) for name, p in (template.get("Parameters") or {}).items()
                  if isinstance(p, dict)}
    parameters.update(parameter_overrides or {})
    resolver = TemplateNameResolver(template_path, parameters, region, account_id, stack_name, document.line)
    resources: dict[str, Any] = template["Resources"]
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    buckets, queues, secrets, functions, ignored = [], [], [], [], []
    for logical, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        where = f"Resources.{logical}"
        if kind == "AWS::S3::Bucket":
            buckets.append(_bucket(resolver, logical, props, where))
        elif kind == "AWS::SQS::Queue":
            queues.append(_queue(resolver, logical, props, where))
        elif kind == "AWS::SecretsManager::Secret":
            secrets.append(_secret(resolver, logical, props, where))
        elif kind == "AWS::Serverless::Function":
            functions.append(_function(resolver, logical, globals_fn, props, where))
        else:
            ignored.append(f"{kind} ({logical})")
    # Names are known now: every Ref/GetAtt that only needs a name resolves before anything is created.
    for bucket in buckets:
        resolver.refs[bucket.logical_id] = bucket.name
        resolver.attributes[(bucket.logical_id, "Arn")] = f"arn:aws:s3:::{bucket.name}"
    for queue in queues:
        arn = f"arn:aws:sqs:{region}:{account_id}:{queue.name}"
        resolver.attributes[(queue.logical_id, "Arn")] = arn
        resolver.attributes[(queue.logical_id, "QueueName")] = queue.name
    for fn in functions:
        resolver.refs[fn.logical_id] = fn.function_name
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{fn.function_name}"
        resolver.attributes[(fn.logical_id, "Arn")] = arn
    spec = StackSpec(template=template_path, region=region, account_id=account_id, parameters=parameters,
                     buckets=tuple(buckets), queues=tuple(queues), secrets=tuple(secrets),
                     functions=tuple(functions), ignored=tuple(ignored))
    known = {q.logical_id for q in queues}
    for queue in queues:
        if queue.dead_letter_queue and queue.dead_letter_queue not in known:
            raise resolver.fail(f"Resources.{queue.logical_id}.Properties.RedrivePolicy",
                                f"dead-letter queue {queue.dead_letter_queue!r} is not a queue in this template")
    for fn in functions:
        if fn.sqs and fn.sqs.queue not in known:
            raise resolver.fail(f"Resources.{fn.logical_id}.Properties.Events",
                                f"SQS event queue {fn.sqs.queue!r} is not a queue in this template")
    return spec, resolver


def _bucket(resolver: TemplateNameResolver, logical: str, props: dict[str, Any], where: str) -> BucketSpec:
    name = resolver.resolve(props.get("BucketName"), where) or logical.lower()
    rules = ((props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or [])
    encryption = None
    if rules:
        encryption = (rules[0].get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")
    return BucketSpec(logical, str(name), encryption=encryption,
                      block_public_access=bool(props.get("PublicAccessBlockConfiguration")))


def _queue(resolver: TemplateNameResolver, logical: str, props: dict[str, Any], where: str) -> QueueSpec:
    fifo = bool(props.get("FifoQueue"))
    name = resolver.resolve(props.get("QueueName"), where) or (f"{logical}.fifo" if fifo else logical)
    redrive = props.get("RedrivePolicy") or {}
    dlq = None
    if redrive:
        target = redrive.get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            att = target["Fn::GetAtt"]
            dlq = (att.split(".", 1) if isinstance(att, str) else att)[0]
        else:
            raise resolver.fail(f"{where}.Properties.RedrivePolicy.deadLetterTargetArn",
                                "the local stack needs !GetAtt <Queue>.Arn here, naming a queue in this template")
    max_receive_count = _int(redrive.get("maxReceiveCount"), 1) if redrive else None
    return QueueSpec(
        logical, str(name), fifo=fifo, visibility_timeout_s=_int(props.get("VisibilityTimeout"), 30),
        retention_s=props.get("MessageRetentionPeriod"),
        content_based_deduplication=bool(props.get("ContentBasedDeduplication")),
        dead_letter_queue=dlq, max_receive_count=max_receive_count)


def _secret(resolver: TemplateNameResolver, logical: str, props: dict[str, Any], where: str) -> SecretSpec:
    name = resolver.resolve(props.get("Name"), where) or logical
    generate = props.get("GenerateSecretString") or {}
    template_value: dict[str, Any] = {}
    if generate.get("SecretStringTemplate"):
        raw = resolver.resolve(generate["SecretStringTemplate"], f"{where}.Properties.GenerateSecretString")
        try:
            template_value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise resolver.fail(f"{where}.Properties.GenerateSecretString.SecretStringTemplate",
                                f"not JSON after substitution: {exc.msg}") from None
    secret_string = props.get("SecretString")
    return SecretSpec(logical, str(name), description=props.get("Description"), template_value=template_value,
                      generate_key=generate.get("GenerateStringKey"),
                      length=_int(generate.get("PasswordLength"), 32),
                      secret_string=resolver.resolve(secret_string, where) if secret_string is not None else None)


def _function(resolver: TemplateNameResolver, logical: str, globals_fn: dict[str, Any], props: dict[str, Any],
              where: str) -> FunctionSpec:
    merged = merge_globals(globals_fn, props)
    env = dict((merged.get("Environment") or {}).get("Variables") or {})
    name = resolver.resolve(merged.get("FunctionName"), where) or logical
    sqs = None
    for event_name, event in (merged.get("Events") or {}).items():
        if not isinstance(event, dict) or event.get("Type") != "SQS":
            continue
        ev = event.get("Properties") or {}
        queue = ev.get("Queue")
        logical_queue = None
        if isinstance(queue, dict) and "Fn::GetAtt" in queue:
            att = queue["Fn::GetAtt"]
            logical_queue = (att.split(".", 1) if isinstance(att, str) else att)[0]
        if logical_queue is None:
            raise resolver.fail(f"{where}.Properties.Events.{event_name}.Properties.Queue",
                                "the local stack needs !GetAtt <Queue>.Arn here, naming a queue in this template")
        sqs = SqsEvent(queue=str(logical_queue), batch_size=_int(ev.get("BatchSize"), DEFAULT_SQS_BATCH_SIZE),
                       enabled=ev.get("Enabled", True) is not False,
                       report_batch_item_failures="ReportBatchItemFailures" in (ev.get("FunctionResponseTypes") or []))
        break
    runtime = merged.get("Runtime")
    handler = merged.get("Handler")
    if not isinstance(runtime, str) or not isinstance(handler, str):
        raise resolver.fail(where, "a function needs Runtime and Handler (here or in Globals.Function)")
    return FunctionSpec(
        logical, str(name), runtime=runtime, handler=handler, timeout_s=_int(merged.get("Timeout"), 3),
        memory_mb=_int(merged.get("MemorySize"), 128),
        reserved_concurrency=merged.get("ReservedConcurrentExecutions"),
        architecture=(merged.get("Architectures") or ["x86_64"])[0], description=merged.get("Description"),
        environment=env, sqs=sqs)
