"""The SAM template read for the local stack: names resolved as CloudFormation would (through the same intrinsics
resolver as `init`), what only a deploy knows named, and the database secret filled in so the worker reaches the
local Postgres with the keys production uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.core.errors import DeployVerifyError
from deployverify.local.postgres import Connection
from deployverify.local.resources import database_secret_value
from deployverify.sam.template import load_stack_spec

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "examples" / "docworker" / "template.yaml"
DB = Connection("127.0.0.1", 6543, "docworker", "pw-123456", "credmate")


def test_the_example_template_resolves_to_the_deployed_names() -> None:
    spec, values = load_stack_spec(TEMPLATE, region="eu-west-1")
    assert [b.name for b in spec.buckets] == ["docworker-dev-documents-123456789012"]
    assert spec.buckets[0].encryption == "AES256"
    assert spec.buckets[0].block_public_access
    queues = {q.logical_id: q for q in spec.queues}
    assert queues["DocumentQueue"].name == "docworker-dev-documents.fifo"
    assert (queues["DocumentQueue"].dead_letter_queue, queues["DocumentQueue"].max_receive_count) == ("DocumentDLQ", 3)
    assert (queues["DocumentQueue"].visibility_timeout_s, queues["DocumentDLQ"].retention_s) == (960, 1209600)
    assert queues["DocumentDLQ"].fifo
    assert queues["DocumentDLQ"].dead_letter_queue is None
    (secret,) = spec.secrets
    assert secret.name == "docworker/dev/database"
    assert secret.generate_key == "password"
    assert secret.template_value == {"host": "localhost", "port": 5432, "username": "docworker",
                                     "database": "credmate", "sslmode": "require"}
    (fn,) = spec.functions
    assert (fn.function_name, fn.runtime, fn.handler, fn.timeout_s, fn.memory_mb, fn.reserved_concurrency) == (
        "docworker-dev-worker", "python3.11", "process_document_lambda.handler", 900, 1024, 10)
    assert fn.sqs is not None
    assert (fn.sqs.queue, fn.sqs.batch_size, fn.sqs.enabled) == ("DocumentQueue", 1, True)
    assert fn.log_group == "/aws/lambda/docworker-dev-worker"
    # Refs to created resources resolve once they exist: a secret's Ref is its ARN.
    values.refs["DatabaseSecret"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:docworker/dev/database-x"
    env = values.variables(fn.environment, ("Resources", "DocumentWorkerFunction", "Properties", "Environment"))
    assert env == {"DB_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:docworker/dev/database-x",
                   "DOCUMENT_BUCKET": "docworker-dev-documents-123456789012", "LOG_LEVEL": "INFO",
                   "SERVICE_NAME": "docworker", "STAGE": "dev"}
    assert values.resolve({"Fn::Sub": ["${Q}-x", {"Q": {"Fn::GetAtt": "DocumentQueue.QueueName"}}]}, ("t",)) == \
        "docworker-dev-documents.fifo-x"


def test_parameter_overrides_change_every_name() -> None:
    spec, _ = load_stack_spec(TEMPLATE, region="us-east-1", parameter_overrides={"Stage": "prod"})
    assert {q.name for q in spec.queues} == {"docworker-prod-documents.fifo", "docworker-prod-documents-dlq.fifo"}
    assert spec.functions[0].function_name == "docworker-prod-worker"


@pytest.mark.parametrize(("resource", "line", "message"), [
    ("  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !ImportValue shared-name\n", 5,
     "Resources.Q.Properties.QueueName: '!ImportValue' is known only to a deployed stack: the local stack needs"),
    ("  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !GetAtt Role.RoleId\n"
     "  Role:\n    Type: AWS::IAM::Role\n", 5,
     "Resources.Q.Properties.QueueName: '!GetAtt Role.RoleId' is known only to a deployed stack"),
    ("  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !If [IsProd, a, b]\n", 5,
     "condition 'IsProd' is not in the template's Conditions"),
    ("  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Ref Missing\n", 5,
     "!Ref Missing: no parameter, pseudo parameter or resource is named 'Missing'"),
    ("  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: soon\n", 5,
     "VisibilityTimeout must be a whole number, found 'soon'"),
    ("  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy:\n        deadLetterTargetArn: arn:x\n"
     "        maxReceiveCount: 2\n", 6,
     "RedrivePolicy.deadLetterTargetArn: the local stack needs !GetAtt <Queue>.Arn"),
])
def test_what_the_local_stack_cannot_resolve_is_named(tmp_path: Path, resource: str, line: int,
                                                      message: str) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n" + resource)
    with pytest.raises(DeployVerifyError) as raised:
        load_stack_spec(template, region="us-east-1")
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"{template}:{line} ")  # the line of the resource or the field


CONDITIONAL_TEMPLATE = """\
Parameters:
  Stage: {Type: String, Default: prod}
Mappings:
  StageSettings:
    prod: {Retention: 1209600, Visibility: 960}
    dev: {Retention: 3600, Visibility: 30}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !If [IsProd, !Join [-, [orders, !Ref AWS::Region]], !Sub "orders-${Stage}"]
      MessageRetentionPeriod: !FindInMap [StageSettings, !Ref Stage, Retention]
      VisibilityTimeout:
        Fn::FindInMap: [StageSettings, !Ref Stage, Visibility]
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName:
        Fn::Sub: ["${Queue}-worker", {Queue: !Select [0, !Split [-, !GetAtt Orders.QueueName]]}]
      Runtime: python3.11
      Handler: app.handler
      Environment:
        Variables:
          ORDERS_URL: !Ref Orders
          AUDIT: !If [IsProd, !Ref AWS::NoValue, "off"]
"""


@pytest.mark.parametrize(("stage", "queue_name", "retention", "visibility", "environment"), [
    ("prod", "orders-eu-west-1", 1209600, 960, {"ORDERS_URL": "http://q/orders"}),
    ("dev", "orders-dev", 3600, 30, {"ORDERS_URL": "http://q/orders", "AUDIT": "off"}),
])
def test_conditions_mappings_and_every_form_resolve_as_init_resolves_them(
        tmp_path: Path, stage: str, queue_name: str, retention: int, visibility: int,
        environment: dict[str, str]) -> None:
    # The local stack's own resolver had Ref, Sub, GetAtt and Join only: !If, !FindInMap, !Select and !Split were
    # "not supported by the local stack". It now resolves through the resolver `init` and the gate use.
    template = tmp_path / "template.yaml"
    template.write_text(CONDITIONAL_TEMPLATE)
    spec, values = load_stack_spec(template, region="eu-west-1", parameter_overrides={"Stage": stage})
    (queue,) = spec.queues
    assert (queue.name, queue.retention_s, queue.visibility_timeout_s) == (queue_name, retention, visibility)
    assert spec.functions[0].function_name == "orders-worker"
    values.refs["Orders"] = "http://q/orders"  # what moto's CreateQueue answers, once the queue exists
    at = ("Resources", "Worker", "Properties", "Environment", "Variables")
    assert values.variables(spec.functions[0].environment, at) == environment


def test_the_database_secret_keeps_the_templates_keys_with_local_values() -> None:
    spec, _ = load_stack_spec(TEMPLATE, region="us-east-1")
    assert database_secret_value(spec.secrets[0], DB, {}) == {
        "host": "127.0.0.1", "port": 6543, "username": "docworker", "password": "pw-123456", "database": "credmate",
        "sslmode": "prefer"}


def test_secret_values_override_with_placeholders() -> None:
    spec, _ = load_stack_spec(TEMPLATE, region="us-east-1")
    # The incident's secret: the name under "dbname" only; "{port}" alone stays an integer.
    value = database_secret_value(spec.secrets[0], DB, {"host": "{host}", "port": "{port}", "username": "{username}",
                                                          "password": "{password}", "dbname": "{database}",
                                                          "note": "db at {host}:{port}"})
    assert value == {"host": "127.0.0.1", "port": 6543, "username": "docworker", "password": "pw-123456",
                     "dbname": "credmate", "note": "db at 127.0.0.1:6543"}


def test_a_resource_whose_condition_is_false_is_not_created(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(CONDITIONAL_TEMPLATE.replace("Resources:\n", """Resources:
  Audit:
    Type: AWS::SQS::Queue
    Condition: IsProd
    Properties: {QueueName: !Sub "audit-${Stage}"}
""", 1))
    prod, _ = load_stack_spec(template, region="eu-west-1", parameter_overrides={"Stage": "prod"})
    assert sorted(q.name for q in prod.queues) == ["audit-prod", "orders-eu-west-1"]
    dev, _ = load_stack_spec(template, region="eu-west-1", parameter_overrides={"Stage": "dev"})
    assert [q.name for q in dev.queues] == ["orders-dev"]
    assert "AWS::SQS::Queue (Audit: its Condition `IsProd` is false)" in dev.ignored
