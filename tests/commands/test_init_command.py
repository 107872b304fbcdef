"""`deployverify init` turns a SAM template into a target file that loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deployverify.target import load_target

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 900
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src/
      MemorySize: 1024
      ReservedConcurrentExecutions: 10
      Environment:
        Variables:
          BUCKET: !Ref Bucket
          STAGE: dev
  Bucket:
    Type: AWS::S3::Bucket
"""


def init(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployverify.cli", "init", *args], cwd=tmp_path,
                          capture_output=True, text=True, check=False)


def test_init_writes_a_loadable_target(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    done = init(tmp_path)
    assert done.returncode == 0, done.stderr
    target = load_target(tmp_path / "deployverify.yaml", env={})
    fn = target.functions[0]
    assert (target.runtime, fn.handler, fn.timeout_s, fn.memory_mb, fn.reserved_concurrency) == (
        "python3.11", "app.handler", 900, 1024, 10)
    # A !Ref to a resource is known only at deploy: the key stays, with a placeholder that says so.
    assert fn.environment == {"BUCKET": "<known at deploy: !Ref Bucket>", "STAGE": "dev"}
    assert load_target(tmp_path / "deployverify.yaml", env={"BUCKET": "real-bucket"}).functions[0].environment == {
        "BUCKET": "real-bucket", "STAGE": "dev"}
    assert target.bundle.sam is not None
    assert target.bundle.sam.function == "Worker"
    assert init(tmp_path).returncode == 2  # never overwrites without --force


def test_init_without_template_is_an_input_error(tmp_path: Path) -> None:
    done = init(tmp_path)
    assert done.returncode == 2
    assert "template.yaml: no SAM template here" in done.stderr


def test_parameter_overrides_and_the_function_whose_code_is_checked(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE.replace("STAGE: dev", "STAGE: !Ref Stage").replace(
        "Resources:", "Parameters:\n  Stage: {Type: String, Default: dev}\nResources:"))
    done = init(tmp_path, "--parameter-overrides", "Stage=prod", "--function", "Worker")
    assert done.returncode == 0, done.stderr
    assert load_target(tmp_path / "deployverify.yaml", env={}).functions[0].environment["STAGE"] == "prod"
    done = init(tmp_path, "--force", "--function", "Bucket")
    assert done.returncode == 2
    assert "no zip Python function 'Bucket' in the template (it has Worker)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_template_without_a_zip_python_function_says_why(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Thumbs:\n    Type: AWS::Serverless::Function\n    Properties: {PackageType: Image}\n")
    done = init(tmp_path)
    assert done.returncode == 2
    assert "the template has no zip Python function to check (Thumbs: PackageType Image" in done.stderr
    assert not (tmp_path / "deployverify.yaml").exists()


SAM_GENERATED = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src/
Resources:
  Processor:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.process
      AutoPublishAlias: live
  Front:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.front
      Environment:
        Variables:
          PROCESSOR: !Ref Processor.Alias
          PROCESSOR_ROLE: !GetAtt ProcessorRole.Arn
          API: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/${Api.Stage}"
      Events:
        Get: {Type: Api, Properties: {Path: /, Method: get}}
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: prod}
"""


def test_references_to_what_the_sam_transform_generates_are_known_at_deploy(tmp_path: Path) -> None:
    # `!Ref Fn.Alias`, a generated `<Fn>Role` and the implicit ServerlessRestApi are valid SAM: init must not refuse
    # the template (lambda-durable-webhook-sam-python in aws-samples/serverless-patterns refs `.Alias`).
    (tmp_path / "template.yaml").write_text(SAM_GENERATED.replace("${Api.Stage}", "x"))
    done = init(tmp_path)
    assert done.returncode == 0, done.stderr
    front = next(f for f in load_target(tmp_path / "deployverify.yaml", env={}).functions if f.name == "Front")
    assert front.environment["PROCESSOR"] == "<known at deploy: !Ref Processor.Alias>"
    assert front.environment["PROCESSOR_ROLE"] == "<known at deploy: !GetAtt ProcessorRole.Arn>"


def test_a_reference_sam_does_not_generate_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(SAM_GENERATED.replace("      AutoPublishAlias: live\n", ""))
    done = init(tmp_path)
    assert done.returncode == 2
    assert ("!Ref Processor.Alias: SAM creates Processor.Alias only for a function with AutoPublishAlias: set it on "
            "Processor") in done.stderr
    (tmp_path / "template.yaml").write_text(SAM_GENERATED.replace("Processor.Alias", "Processor.Alais"))
    done = init(tmp_path, "--force")
    assert done.returncode == 2
    assert "SAM gives AWS::Serverless::Function Processor no property 'Alais'" in done.stderr
    assert "Traceback" not in done.stderr


INLINE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Scheduler:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return event
  Archived:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      CodeUri: s3://artifacts/archived.zip
"""


def test_functions_without_a_code_folder_are_named_as_not_checked(tmp_path: Path) -> None:
    # Inline code and code in S3 have no folder `sam build` can build: written as `bundle.sam`, they all shared one
    # bundle whose build crashed sam (dynamodb-eventbridge-scheduler in aws-samples/serverless-patterns).
    (tmp_path / "template.yaml").write_text(INLINE)
    done = init(tmp_path)
    assert done.returncode == 2
    assert "Scheduler: InlineCode: the code is written in the template" in done.stderr
    assert "Archived: CodeUri is in S3, not on this machine" in done.stderr
    (tmp_path / "src").mkdir()
    (tmp_path / "template.yaml").write_text(INLINE + TEMPLATE.split("Resources:\n", 1)[1])
    done = init(tmp_path)
    assert done.returncode == 0, done.stderr
    assert [f.name for f in load_target(tmp_path / "deployverify.yaml", env={}).functions] == ["Worker"]
    written = (tmp_path / "deployverify.yaml").read_text()
    assert "Scheduler" in written
    assert "move the code to a file and set CodeUri to its folder" in written


def test_init_and_the_gate_find_a_template_yml_as_sam_does(tmp_path: Path) -> None:
    # `sam build` reads template.yml when there is no template.yaml; init and the template-only gate must too.
    (tmp_path / "template.yml").write_text(TEMPLATE)
    done = init(tmp_path)
    assert done.returncode == 0, done.stderr
    target = load_target(tmp_path / "deployverify.yaml", env={})
    assert target.bundle.sam is not None
    assert target.bundle.sam.template.name == "template.yml"
    (tmp_path / "deployverify.yaml").unlink()
    gate = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "-k", "DV210"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert "no target" not in gate.stderr, gate.stderr
    assert "checking every function of template.yml" in gate.stdout, gate.stdout + gate.stderr


def test_template_yaml_wins_over_template_yml_as_in_sam(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "template.yml").write_text("not: a template\n")
    assert init(tmp_path).returncode == 0
    assert "from template.yaml" in (tmp_path / "deployverify.yaml").read_text()


WITH_LAYER = "      Layers:\n        - !Ref Boto3Layer\n      Environment:\n"
S3_LAYER = TEMPLATE.replace("      Environment:\n", WITH_LAYER) + """\
  Boto3Layer:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content:
        S3Bucket: !GetAtt Boto3Zip.Bucket
        S3Key: !GetAtt Boto3Zip.Key
  Boto3Zip:
    Type: Custom::Boto3Zip
    Properties:
      ServiceToken: arn:aws:lambda:us-east-1:123456789012:function:zip
"""


def test_a_layer_of_the_template_whose_content_is_in_s3_is_named_as_such(tmp_path: Path) -> None:
    # apigw-websocket-api-bedrock-streaming: a LayerVersion built at deploy by a custom resource was said to be
    # "neither in this template nor an ARN", though the template defines it.
    (tmp_path / "template.yaml").write_text(S3_LAYER)
    done = init(tmp_path)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "deployverify.yaml").read_text()
    assert "neither in this template" not in written
    line = S3_LAYER.splitlines().index("  Boto3Layer:") + 1
    assert f"layer Boto3Layer (template.yaml:{line}) has its content in S3 or built at deploy" in written
    assert load_target(tmp_path / "deployverify.yaml", env={}).functions[0].bundle.layers == ()


def test_functions_skipped_for_one_reason_are_named_together(tmp_path: Path) -> None:
    # dynamodb-eventbridge-scheduler: three InlineCode functions repeated the same 150-character reason three times.
    second = INLINE.split("  Archived:", 1)[0].split("Resources:\n", 1)[1].replace("Scheduler:", "Cleaner:")
    (tmp_path / "template.yaml").write_text(INLINE + second)
    done = init(tmp_path)
    assert done.returncode == 2
    assert "Scheduler, Cleaner: InlineCode: the code is written in the template" in done.stderr
    assert done.stderr.count("InlineCode:") == 1
    assert "Archived: CodeUri is in S3, not on this machine" in done.stderr
