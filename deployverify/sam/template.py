"""What the SAM template declares, resolved for a local stack: bucket, queues, secrets and functions with real names.

The template is read once by deployverify.sam.reader and its intrinsics resolve through deployverify.sam.intrinsics,
the resolver `init`, the gate and the deployed-config check use, so Parameters, Conditions (`!If`), Mappings and
every short and long form mean here what they mean there. The local stack only adds what it knows and a deploy
would: the region, moto's account id, the stack name, and each resource's name, ARN and URL as it creates them.
Functions get Globals merged as deployverify.sam.application merges them. Only what the local stack creates is read:
AWS::Serverless::Function (with its SQS event), AWS::S3::Bucket, AWS::SQS::Queue and AWS::SecretsManager::Secret.
A value it still cannot know (an import, a resource it does not create) is an error naming the file, the line and
the field, instead of silently becoming a wrong name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployverify.core.errors import DeployVerifyError
from deployverify.sam.application import merge_globals, parameter_values
from deployverify.sam.intrinsics import (
    NO_VALUE,
    Intrinsics,
    Unresolved,
    check_functions,
    first_unresolved,
    referenced_resource,
)
from deployverify.sam.reader import SamDocument, load_document
from deployverify.target.yamlnodes import Path_

MOTO_ACCOUNT_ID = "123456789012"  # moto's default account; every ARN the local stack shows carries it
DEFAULT_SQS_BATCH_SIZE = 10  # Lambda's default for an SQS event source
_GET_ATT = frozenset({"Fn::GetAtt"})


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


class LocalValues:
    """The template's intrinsics resolved to what the local stack knows. `refs` and `attributes` are a resource's
    `!Ref` and `!GetAtt` values: names once the template is read, URLs and ARNs as moto creates them."""

    def __init__(self, document: SamDocument, parameters: Mapping[str, Any], *, region: str, account_id: str,
                 stack_name: str) -> None:
        self.document = document
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name}
        self.intrinsics = Intrinsics(document, parameters, pseudo, resources=self)

    def ref(self, logical: str) -> Any:
        return self.refs.get(logical)

    def attribute(self, logical: str, attribute: str) -> Any:
        return self.attributes.get((logical, attribute))

    def fail(self, at: Path_, message: str) -> DeployVerifyError:
        """`template.yaml:14 Resources.Q.Properties.QueueName: ...`: the line of the path, or of its nearest parent."""
        return self.document.error(at, message)

    def _unknown(self, value: Unresolved, at: Path_) -> DeployVerifyError:
        return self.fail(at, f"{value.expression!r} is known only to a deployed stack: the local stack needs a "
                             f"parameter, a mapping, a pseudo parameter or a resource it creates here")

    def resolve(self, value: Any, at: Path_) -> Any:
        """`value` with every intrinsic resolved to a concrete value; an error where only a deploy would know it."""
        resolved = self.intrinsics.resolve(value, at)
        waiting = first_unresolved(resolved)
        if waiting is not None:
            raise self._unknown(waiting, at)
        return resolved

    def text(self, value: Any, at: Path_) -> str:
        resolved = self.intrinsics.text(value, at)
        if isinstance(resolved, Unresolved):
            raise self._unknown(resolved, at)
        return resolved

    def variables(self, variables: Mapping[str, Any], at: Path_) -> dict[str, str]:
        """An environment's Variables as Lambda gets them: text, without the `!Ref AWS::NoValue` ones."""
        texts = self.intrinsics.texts(variables, at)
        for name, value in texts.items():
            if isinstance(value, Unresolved):
                raise self._unknown(value, (*at, name))
        return {name: str(value) for name, value in texts.items()}

    def optional(self, properties: Mapping[str, Any], key: str, at: Path_) -> Any:
        """properties[key] resolved; None where it is absent or `!Ref AWS::NoValue`."""
        if properties.get(key) is None:
            return None
        resolved = self.resolve(properties[key], (*at, key))
        return None if resolved is NO_VALUE else resolved

    def optional_text(self, properties: Mapping[str, Any], key: str, at: Path_) -> str | None:
        value = self.optional(properties, key, at)
        return None if value is None else self.text(value, (*at, key))

    def name(self, properties: Mapping[str, Any], key: str, at: Path_, default: str) -> str:
        """A resource's name property; CloudFormation's default name where the template gives none."""
        return self.optional_text(properties, key, at) or default

    def optional_integer(self, properties: Mapping[str, Any], key: str, at: Path_) -> int | None:
        value = self.optional(properties, key, at)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self.fail((*at, key), f"{key} must be a whole number, found {value!r}") from None

    def integer(self, properties: Mapping[str, Any], key: str, at: Path_, default: int) -> int:
        number = self.optional_integer(properties, key, at)
        return default if number is None else number

    def flag(self, properties: Mapping[str, Any], key: str, at: Path_, default: bool = False) -> bool:
        """A boolean property: CloudFormation takes true/false and their strings alike."""
        value = self.optional(properties, key, at)
        return default if value is None else str(value).lower() == "true"


def load_stack_spec(template_path: Path, *, region: str, account_id: str = MOTO_ACCOUNT_ID,
                    stack_name: str = "deployverify-local",
                    parameter_overrides: Mapping[str, str] | None = None) -> tuple[StackSpec, LocalValues]:
    document = load_document(template_path)
    check_functions(document)
    parameters = parameter_values(document, parameter_overrides or {})
    values = LocalValues(document, parameters, region=region, account_id=account_id, stack_name=stack_name)
    globals_fn = (document.value.get("Globals") or {}).get("Function") or {}
    buckets, queues, secrets, ignored = [], [], [], []
    function_properties: dict[str, dict[str, Any]] = {}
    for logical, resource in document.resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        at: Path_ = ("Resources", logical, "Properties")
        if values.intrinsics.resource_created(logical) is False:
            ignored.append(f"{kind} ({logical}: its Condition `{resource['Condition']}` is false)")
        elif kind == "AWS::S3::Bucket":
            buckets.append(_bucket(values, logical, props, at))
        elif kind == "AWS::SQS::Queue":
            queues.append(_queue(values, logical, props, at))
        elif kind == "AWS::SecretsManager::Secret":
            secrets.append(_secret(values, logical, props, at))
        elif kind == "AWS::Serverless::Function":
            function_properties[logical] = merge_globals(globals_fn, props)
        else:
            ignored.append(f"{kind} ({logical})")
    # Bucket and queue names are known now, so a function's name or event may use them; after the functions every
    # Ref/GetAtt that needs only a name resolves before anything is created.
    for bucket in buckets:
        values.refs[bucket.logical_id] = bucket.name
        values.attributes[(bucket.logical_id, "Arn")] = f"arn:aws:s3:::{bucket.name}"
    for queue in queues:
        arn = f"arn:aws:sqs:{region}:{account_id}:{queue.name}"
        values.attributes[(queue.logical_id, "Arn")] = arn
        values.attributes[(queue.logical_id, "QueueName")] = queue.name
    functions = [_function(values, logical, props, ("Resources", logical, "Properties"))
                 for logical, props in function_properties.items()]
    for fn in functions:
        values.refs[fn.logical_id] = fn.function_name
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{fn.function_name}"
        values.attributes[(fn.logical_id, "Arn")] = arn
    spec = StackSpec(template=template_path, region=region, account_id=account_id,
                     parameters={k: v for k, v in parameters.items() if isinstance(v, str)},
                     buckets=tuple(buckets), queues=tuple(queues), secrets=tuple(secrets),
                     functions=tuple(functions), ignored=tuple(ignored))
    known = {q.logical_id for q in queues}
    for queue in queues:
        if queue.dead_letter_queue and queue.dead_letter_queue not in known:
            raise values.fail(("Resources", queue.logical_id, "Properties", "RedrivePolicy"),
                              f"dead-letter queue {queue.dead_letter_queue!r} is not a queue in this template")
    for fn in functions:
        if fn.sqs and fn.sqs.queue not in known:
            raise values.fail(("Resources", fn.logical_id, "Properties", "Events"),
                              f"SQS event queue {fn.sqs.queue!r} is not a queue in this template")
    return spec, values


def _bucket(values: LocalValues, logical: str, props: dict[str, Any], at: Path_) -> BucketSpec:
    name = values.name(props, "BucketName", at, logical.lower())
    rules = ((values.optional(props, "BucketEncryption", at) or {}).get("ServerSideEncryptionConfiguration") or [])
    encryption = None
    if rules:
        encryption = (rules[0].get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")
    return BucketSpec(logical, name, encryption=encryption,
                      block_public_access=bool(values.optional(props, "PublicAccessBlockConfiguration", at)))


def _queue(values: LocalValues, logical: str, props: dict[str, Any], at: Path_) -> QueueSpec:
    fifo = values.flag(props, "FifoQueue", at)
    name = values.name(props, "QueueName", at, f"{logical}.fifo" if fifo else logical)
    redrive = props.get("RedrivePolicy") or {}
    dlq = None
    if redrive:
        # The redrive target is a queue of this template, named by the GetAtt itself: its ARN comes from moto later.
        dlq = referenced_resource(redrive.get("deadLetterTargetArn"), _GET_ATT)
        if dlq is None:
            raise values.fail((*at, "RedrivePolicy", "deadLetterTargetArn"),
                              "the local stack needs !GetAtt <Queue>.Arn here, naming a queue in this template")
    return QueueSpec(
        logical, name, fifo=fifo, visibility_timeout_s=values.integer(props, "VisibilityTimeout", at, 30),
        retention_s=values.optional_integer(props, "MessageRetentionPeriod", at),
        content_based_deduplication=values.flag(props, "ContentBasedDeduplication", at),
        dead_letter_queue=dlq,
        max_receive_count=values.integer(redrive, "maxReceiveCount", (*at, "RedrivePolicy"), 1) if redrive else None)


def _secret(values: LocalValues, logical: str, props: dict[str, Any], at: Path_) -> SecretSpec:
    name = values.name(props, "Name", at, logical)
    generate = props.get("GenerateSecretString") or {}
    generate_at: Path_ = (*at, "GenerateSecretString")
    template_value: dict[str, Any] = {}
    if generate.get("SecretStringTemplate"):
        raw = values.text(generate["SecretStringTemplate"], (*generate_at, "SecretStringTemplate"))
        try:
            template_value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise values.fail((*generate_at, "SecretStringTemplate"),
                              f"not JSON after substitution: {exc.msg}") from None
    return SecretSpec(logical, name, description=values.optional_text(props, "Description", at),
                      template_value=template_value,
                      generate_key=values.optional_text(generate, "GenerateStringKey", generate_at),
                      length=values.integer(generate, "PasswordLength", generate_at, 32),
                      secret_string=values.optional_text(props, "SecretString", at))


def _function(values: LocalValues, logical: str, merged: dict[str, Any], at: Path_) -> FunctionSpec:
    env = dict((merged.get("Environment") or {}).get("Variables") or {})
    sqs = None
    for event_name, event in (merged.get("Events") or {}).items():
        if not isinstance(event, dict) or event.get("Type") != "SQS":
            continue
        ev = event.get("Properties") or {}
        ev_at: Path_ = (*at, "Events", event_name, "Properties")
        logical_queue = referenced_resource(ev.get("Queue"), _GET_ATT)
        if logical_queue is None:
            raise values.fail((*ev_at, "Queue"),
                              "the local stack needs !GetAtt <Queue>.Arn here, naming a queue in this template")
        sqs = SqsEvent(queue=logical_queue, batch_size=values.integer(ev, "BatchSize", ev_at, DEFAULT_SQS_BATCH_SIZE),
                       enabled=values.flag(ev, "Enabled", ev_at, default=True),
                       report_batch_item_failures="ReportBatchItemFailures" in (
                           values.optional(ev, "FunctionResponseTypes", ev_at) or []))
        break
    runtime = values.optional_text(merged, "Runtime", at)
    handler = values.optional_text(merged, "Handler", at)
    if runtime is None or handler is None:
        raise values.fail(at[:2], "a function needs Runtime and Handler (here or in Globals.Function)")
    return FunctionSpec(
        logical, values.name(merged, "FunctionName", at, logical), runtime=runtime, handler=handler,
        timeout_s=values.integer(merged, "Timeout", at, 3), memory_mb=values.integer(merged, "MemorySize", at, 128),
        reserved_concurrency=values.optional_integer(merged, "ReservedConcurrentExecutions", at),
        architecture=(values.optional(merged, "Architectures", at) or ["x86_64"])[0],
        description=values.optional_text(merged, "Description", at), environment=env, sqs=sqs)
