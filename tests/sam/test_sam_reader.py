"""The one SAM template reader: Globals merged as SAM merges them, intrinsics resolved before deploy or kept as a
placeholder that says what they wait for, events, layers and build methods read, and every malformed or
unsupported template one error naming the file, the line and the resource."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployverify.core.errors import DeployVerifyError
from deployverify.sam.application import load_application
from deployverify.sam.intrinsics import Unresolved
from deployverify.sam.model import LayerRef, QueueRef, SamApplication


def app_from(tmp_path: Path, text: str, **kwargs: object) -> SamApplication:
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_application(template, **kwargs)  # type: ignore[arg-type]


GLOBALS = """\
    Parameters:
      Stage: {Type: String, Default: dev}
    Globals:
      Function:
        Runtime: python3.12
        Handler: app.handler
        CodeUri: services/billing/src/handlers/
        Timeout: 10
        MemorySize: 256
        Architectures: [arm64]
        ReservedConcurrentExecutions: 2
        Layers: [arn:aws:lambda:us-east-1:123456789012:layer:common:3]
        Environment:
          Variables:
            TABLE: !Ref Table
            STAGE: !Ref Stage
            MODE: global
    Resources:
      Table: {Type: AWS::DynamoDB::Table}
      Local:
        Type: AWS::Lambda::LayerVersion
        Properties: {Content: layer/}
      Plain:
        Type: AWS::Serverless::Function
      Own:
        Type: AWS::Serverless::Function
        Metadata: {BuildMethod: makefile}
        Properties:
          Handler: own.main
          Timeout: 20
          Architectures: [x86_64]
          Layers: [!Ref Local]
          Environment:
            Variables:
              MODE: own
              EXTRA: !Sub "${Stage}-${Table.Arn}"
    """


def test_globals_are_merged_the_way_sam_merges_them(tmp_path: Path) -> None:
    app = app_from(tmp_path, GLOBALS)
    plain, own = app.function("Plain"), app.function("Own")
    assert (plain.runtime, plain.handler, plain.timeout_s, plain.memory_mb, plain.architecture,
            plain.reserved_concurrency) == ("python3.12", "app.handler", 10, 256, "arm64", 2)
    assert plain.code_uri == (tmp_path / "services/billing/src/handlers").resolve()
    # The function's own values win; environment variables merge key by key; global layers come first.
    assert (own.handler, own.timeout_s, own.memory_mb, own.architectures) == ("own.main", 20, 256, ("x86_64",))
    assert own.environment == {"TABLE": Unresolved("!Ref Table"), "STAGE": "dev", "MODE": "own",
                               "EXTRA": Unresolved("!Sub with Table.Arn", "dev-${Table.Arn}")}
    assert own.layers == (LayerRef(arn="arn:aws:lambda:us-east-1:123456789012:layer:common:3"),
                          LayerRef(logical_id="Local"))
    assert own.build_method == "makefile"
    layer = app.layer("Local")
    assert layer is not None
    assert layer.content_uri == (tmp_path / "layer").resolve()


def test_parameter_overrides_and_known_pseudo_parameters_resolve(tmp_path: Path) -> None:
    app = app_from(tmp_path, GLOBALS, parameter_overrides={"Stage": "prod"}, pseudo={"AWS::Region": "eu-west-1"})
    assert app.function("Plain").environment["STAGE"] == "prod"
    assert app.parameters == {"Stage": "prod"}


CONDITIONS = """\
    Parameters:
      Stage: {Type: String, Default: prod}
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
      InUsEast: !Equals [!Ref "AWS::Region", us-east-1]
      ProdInUsEast: !And [!Condition IsProd, !Condition InUsEast]
    Resources:
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.11
          Handler: app.handler
          CodeUri: src/
          MemorySize: !If [IsProd, 1024, 128]
          Timeout: !If [ProdInUsEast, 60, 30]
          Environment:
            Variables:
              SIZES: !Join [",", [!Select [0, !Split ["-", a-b]], c]]
              ENCODED: !Base64 hi
              DROPPED: !If [IsProd, !Ref "AWS::NoValue", kept]
              IMPORTED: !ImportValue shared-table
    """


def test_conditions_resolve_where_the_template_alone_decides(tmp_path: Path) -> None:
    worker = app_from(tmp_path, CONDITIONS).function("Worker")
    assert worker.memory_mb == 1024
    assert worker.timeout_s == Unresolved("!If ProdInUsEast")  # depends on the region: only the deploy knows
    assert worker.environment == {"SIZES": "a,c", "ENCODED": "aGk=", "IMPORTED": Unresolved("!ImportValue")}
    in_us_east = app_from(tmp_path, CONDITIONS, pseudo={"AWS::Region": "us-east-1"}).function("Worker")
    assert in_us_east.timeout_s == 60


EVENTS = """\
    Resources:
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3}
      Dlq: {Type: AWS::SQS::Queue}
      FromTemplate:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.11
          Handler: a.h
          Events:
            Api: {Type: Api, Properties: {Path: /, Method: get}}
            Work: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
      FromArn:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.11
          Handler: a.h
          DeadLetterQueue: {Type: SQS, TargetArn: arn:aws:sqs:eu-west-1:123456789012:failed}
          Events:
            Work: {Type: SQS, Properties: {Queue: arn:aws:sqs:eu-west-1:123456789012:work, BatchSize: 7}}
    """


def test_sqs_events_give_the_trigger_queue_batch_size_and_dlq(tmp_path: Path) -> None:
    app = app_from(tmp_path, EVENTS)
    from_template = app.function("FromTemplate")
    assert from_template.sqs is not None
    assert (from_template.sqs.queue, from_template.sqs.batch_size) == (QueueRef(logical_id="Queue"), 10)
    assert from_template.dlq == QueueRef(logical_id="Dlq")
    from_arn = app.function("FromArn")
    assert from_arn.sqs is not None
    assert (from_arn.sqs.queue.arn, from_arn.sqs.batch_size) == ("arn:aws:sqs:eu-west-1:123456789012:work", 7)
    assert from_arn.dlq == QueueRef(arn="arn:aws:sqs:eu-west-1:123456789012:failed")


def test_images_and_other_languages_are_not_applicable_with_the_reason(tmp_path: Path) -> None:
    app = app_from(tmp_path, """\
        Resources:
          Image:
            Type: AWS::Lambda::Function
            Properties: {PackageType: Image, Code: {ImageUri: 123.dkr.ecr.us-east-1.amazonaws.com/x:1}}
          Node:
            Type: AWS::Serverless::Function
            Properties: {Runtime: nodejs20.x, Handler: index.handler, CodeUri: web/}
        """)
    assert app.functions == ()
    reasons = {n.logical_id: (n.line, n.reason) for n in app.not_applicable}
    assert reasons["Image"][0] == 2
    assert reasons["Image"][1].startswith("PackageType Image: the code is a container image")
    assert reasons["Node"] == (5, "runtime nodejs20.x: deployverify checks Python functions")


CONDITIONAL_FUNCTIONS = """\
    Parameters:
      Stage: {Type: String, Default: prod}
      Region: {Type: "AWS::SSM::Parameter::Value<String>", Default: /app/region}
    Conditions:
      IsDev: !Equals [!Ref Stage, dev]
      InHomeRegion: !Equals [!Ref Region, eu-west-1]
    Resources:
      Worker:
        Type: AWS::Serverless::Function
        Properties: {Runtime: python3.12, Handler: app.handler, CodeUri: src/}
      DevSeeder:
        Type: AWS::Serverless::Function
        Condition: IsDev
        Properties: {Runtime: python3.12, Handler: seed.handler, CodeUri: src/}
      Replicator:
        Type: AWS::Serverless::Function
        Condition: InHomeRegion
        Properties: {Runtime: python3.12, Handler: replicate.handler, CodeUri: src/}
    """


@pytest.mark.parametrize(("stage", "checked"), [("prod", ["Replicator", "Worker"]),
                                                ("dev", ["DevSeeder", "Replicator", "Worker"])])
def test_a_function_whose_condition_is_false_is_not_applicable(tmp_path: Path, stage: str,
                                                               checked: list[str]) -> None:
    # A condition only the deploy decides (an SSM parameter's value) keeps the function checked: it may be created.
    app = app_from(tmp_path, CONDITIONAL_FUNCTIONS, parameter_overrides={"Stage": stage})
    assert sorted(f.logical_id for f in app.functions) == checked
    skipped = {n.logical_id: n.reason for n in app.not_applicable}
    if stage == "prod":
        assert skipped == {"DevSeeder": "its Condition `IsDev` is false with these parameters, so the stack does "
                                        "not create it"}
    else:
        assert skipped == {}


@pytest.mark.parametrize(("text", "line", "message"), [
    ("Resources:\n  Worker:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n"
     "      Handler: app.handler\n      Policies:\n        - {'Fn::Frobnicate': [a]}\n",
     8, "Resources.Worker.Properties.Policies[0]: unknown intrinsic function Fn::Frobnicate"),
    ("Resources:\n  Worker:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n"
     "      Handler: app.handler\n      Environment:\n        Variables:\n          T: !Ref Nothing\n",
     9, "Resources.Worker.Properties.Environment.Variables.T.Ref: !Ref Nothing: no parameter, pseudo parameter or "
        "resource is named 'Nothing'"),
    ("Resources:\n  Worker:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: app.handler\n",
     4, "Resources.Worker.Properties: a zip function needs Runtime (here or in Globals.Function)"),
    ("Resources:\n  Worker:\n    Type: AWS::Serverless::Function\n  Worker:\n    Type: AWS::SQS::Queue\n",
     4, "Resources.Worker: duplicate key 'Worker'"),
    ("Resources:\n  Worker:\n    Properties: {}\n", 2, "Resources.Worker: resource Worker has no Type"),
    ("Resources:\n  Worker:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n"
     "      Handler: app.handler\n      Timeout: !GetAtt Missing.Value\n",
     7, "!GetAtt Missing.Value: no resource is named 'Missing'"),
    ("Description: no resources\n", 1, "not a SAM template: no Resources mapping"),
])
def test_a_bad_template_is_one_error_with_file_line_and_resource(tmp_path: Path, text: str, line: int,
                                                                  message: str) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(text, encoding="utf-8")
    with pytest.raises(DeployVerifyError) as raised:
        load_application(template)
    assert f"{template}:{line} " in str(raised.value) or str(raised.value).startswith(f"{template}:{line}:")
    assert message in str(raised.value)
