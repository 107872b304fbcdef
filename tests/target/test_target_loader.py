"""The target file: valid files load into a typed Target; every kind of bad input is one clear error with file:line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deployverify.core.errors import TargetError
from deployverify.target import load_target

GOOD = """\
name: worker
runtime: python3.11
architecture: x86_64
bundle:
  command: ./build.sh
  output: build/bundle
functions:
  - name: Worker
    handler: app.handler
    function_name: ${FN_NAME:-worker-dev}
    memory_mb: ${MEMORY:-1024}
    environment:
      STAGE: "${STAGE:-dev}"
secrets:
  - id: ${SECRET_ID:-worker/db}
    name: db
    required: [host, database]
    aliases: {database: [dbname, db_name]}
database:
  secret: db
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployverify.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, GOOD), env={})
    fn = target.functions[0]
    assert (target.name, target.runtime, fn.handler, fn.function_name) == (
        "worker",
        "python3.11",
        "app.handler",
        "worker-dev",
    )
    assert fn.memory_mb == 1024  # an unquoted ${VAR:-1024} is typed as YAML would type 1024
    assert fn.environment == {"STAGE": "dev"}
    assert target.bundle.output == (tmp_path / "build" / "bundle").resolve()
    assert target.secret("db").aliases == {"database": ("dbname", "db_name")}
    assert target.container_image == "public.ecr.aws/lambda/python:3.11"


def test_environment_overrides_defaults(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, GOOD), env={"FN_NAME": "worker-prod", "MEMORY": "2048", "SECRET_ID": "p/db"})
    assert target.functions[0].function_name == "worker-prod"
    assert target.functions[0].memory_mb == 2048
    assert target.secrets[0].id == "p/db"


def test_escaped_dollar_is_literal(tmp_path: Path) -> None:
    text = GOOD.replace('STAGE: "${STAGE:-dev}"', 'STAGE: "$${NOT_A_VAR}"')
    assert load_target(write(tmp_path, text), env={}).functions[0].environment == {"STAGE": "${NOT_A_VAR}"}


# (what is wrong, replacement applied to GOOD, expected "file:line field" prefix, words the message must contain)
BAD = [
    (
        "missing required field",
        ("    handler: app.handler\n", ""),
        "deployverify.yaml:8 functions[0].handler",
        "required",
    ),
    (
        "unknown key with a suggestion",
        ("    handler: app.handler", "    hanlder: app.handler"),
        "deployverify.yaml:9 functions[0].hanlder",
        "did you mean 'handler'",
    ),
    (
        "wrong type",
        ("memory_mb: ${MEMORY:-1024}", "memory_mb: lots"),
        "deployverify.yaml:11 functions[0].memory_mb",
        "expected an integer, got 'lots'",
    ),
    (
        "value out of range",
        ("memory_mb: ${MEMORY:-1024}", "memory_mb: 64"),
        "deployverify.yaml:11 functions[0].memory_mb",
        "out of range",
    ),
    (
        "bad enum",
        ("architecture: x86_64", "architecture: amd64"),
        "deployverify.yaml:3 architecture",
        "'amd64' is not one of 'x86_64', 'arm64'",
    ),
    (
        "not a python runtime",
        ("runtime: python3.11", "runtime: nodejs20.x"),
        "deployverify.yaml:2 runtime",
        "'nodejs20.x' is not valid",
    ),
    (
        "malformed handler",
        ("handler: app.handler", "handler: app"),
        "deployverify.yaml:9 functions[0].handler",
        "Runtime.MalformedHandlerName",
    ),
    (
        "unset variable without default",
        ("${FN_NAME:-worker-dev}", "${FN_NAME}"),
        "deployverify.yaml:10 functions[0].function_name",
        "FN_NAME is not set",
    ),
    (
        "duplicate key",
        ("name: worker\n", "name: worker\nname: again\n"),
        "deployverify.yaml:2 name",
        "duplicate key 'name'",
    ),
    ("invalid YAML", ("  - name: Worker", "  - name: [Worker"), "deployverify.yaml:", "invalid YAML"),
    (
        "database names an undeclared secret",
        ("  secret: db", "  secret: nope"),
        "deployverify.yaml:20 database.secret",
        "'nope' is not a declared secret",
    ),
    (
        "empty functions list",
        (GOOD[GOOD.index("functions:") : GOOD.index("secrets:")], "functions: []\n"),
        "deployverify.yaml:7 functions",
        "must not be empty",
    ),
    (
        "a list where a mapping belongs",
        ("bundle:\n  command: ./build.sh\n  output: build/bundle\n", "bundle: [a]\n"),
        "deployverify.yaml:4 bundle",
        "expected a mapping",
    ),
    (
        "two ways to build",
        ("  command: ./build.sh\n", "  command: ./build.sh\n  source: .\n"),
        "deployverify.yaml:6 bundle.source",
        "choose one way to build",
    ),
    ("CloudFormation tag", ("name: worker", "name: !Ref Name"), "deployverify.yaml:1 name", "tag !Ref"),
    ("top level is a list", (GOOD, "- a\n- b\n"), "deployverify.yaml:1", "top level must be a mapping"),
]


@pytest.mark.parametrize(("case", "edit", "where", "words"), BAD, ids=[case[0] for case in BAD])
def test_bad_input_is_one_clear_error(tmp_path: Path, case: str, edit: tuple[str, str], where: str, words: str) -> None:
    old, new = edit
    assert old in GOOD, f"test table out of date for {case}"
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TargetError) as raised:
        load_target(path, env={})
    message = str(raised.value)
    assert message.startswith(str(tmp_path / where)), message
    assert words in message
    assert "\n" not in message


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file"):
        load_target(tmp_path / "nope.yaml")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"deployverify.yaml:1: the file is empty"):
        load_target(write(tmp_path, ""))


def test_missing_referenced_file(tmp_path: Path) -> None:
    text = GOOD + "seed:\n  email: real1@test.com\n  sql: seed/missing.sql\n"
    with pytest.raises(TargetError, match=r"deployverify.yaml:23 seed.sql: file 'seed/missing.sql' does not exist"):
        load_target(write(tmp_path, text), env={})


@pytest.mark.parametrize(("case", "edit", "where", "words"), BAD[:4], ids=[case[0] for case in BAD[:4]])
def test_cli_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, case: str, edit: tuple[str, str], where: str, words: str
) -> None:
    path = write(tmp_path, GOOD.replace(*edit, 1))
    done = subprocess.run(
        [sys.executable, "-m", "deployverify.cli", "gate", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert where in lines[0]
    assert words in lines[0]


APPLICATION = """\
name: shop
runtime: python3.11
bundle:
  source: src/common
  output: build/common
functions:
  - name: Orders
    handler: app.handler
    bundle:
      sam: {template: template.yaml, function: Orders}
      layers: [.aws-sam/build/Shared, layers/settings]
  - name: Payments
    handler: app.handler
    bundle: {output: prebuilt/payments}
  - name: Common
    handler: common.handler
"""


def test_each_function_has_its_own_code_and_layers(tmp_path: Path) -> None:
    (tmp_path / "src" / "common").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    target = load_target(write(tmp_path, APPLICATION), env={})
    orders, payments, common = target.functions
    assert orders.bundle is not None
    assert orders.bundle.sam is not None
    assert orders.bundle.sam.function == "Orders"
    assert orders.bundle.output == (tmp_path / ".aws-sam" / "build" / "Orders").resolve()
    assert orders.bundle.layers == (tmp_path / ".aws-sam/build/Shared", tmp_path / "layers/settings")
    assert target.bundle_of(payments).output == (tmp_path / "prebuilt" / "payments").resolve()
    # A function without its own bundle runs the top-level one: the single-bundle form keeps working.
    assert common.bundle is None
    assert target.bundle_of(common) == target.bundle
    assert target.bundle.source == (tmp_path / "src" / "common").resolve()
    one = target.for_function("Payments")
    assert ([f.name for f in one.functions], one.bundle) == (["Payments"], payments.bundle)


def test_functions_sharing_a_bundle_are_one_code_unit(tmp_path: Path) -> None:
    text = APPLICATION.replace("    bundle: {output: prebuilt/payments}\n", "")
    (tmp_path / "src" / "common").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    target = load_target(write(tmp_path, text), env={})
    assert [f.name for f in target.sharing_code("Payments").functions] == ["Payments", "Common"]
    assert [f.name for f in target.sharing_code("Orders").functions] == ["Orders"]
    # The same code under other variables is probed apart: Lambda imports each handler under its own environment.
    common = "    handler: common.handler\n"
    own_env = text.replace(common, common + "    environment: {BUCKET: b}\n")
    target = load_target(write(tmp_path, own_env), env={})
    assert [f.name for f in target.sharing_code("Payments").functions] == ["Payments"]
    assert [f.name for f in target.sharing_code("Common").functions] == ["Common"]


def test_without_a_top_level_bundle_the_first_functions_stands_in(tmp_path: Path) -> None:
    text = APPLICATION[:APPLICATION.index("bundle:")] + APPLICATION[APPLICATION.index("functions:"):]
    text = text[:text.index("  - name: Common")]
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    target = load_target(write(tmp_path, text), env={})
    assert target.bundle == target.functions[0].bundle


@pytest.mark.parametrize(("edit", "where", "words"), [
    (("bundle:\n  source: src/common\n  output: build/common\n", ""),
     "deployverify.yaml:12 functions[2].bundle", "has no bundle and there is no top-level bundle"),
    (("layers/settings]", "'arn:aws:lambda:eu-west-1:017000801446:function:AWSLambdaPowertoolsPythonV3:7']"),
     "deployverify.yaml:11 functions[0].bundle.layers[1]", "is not a layer version ARN"),
    (("bundle: {output: prebuilt/payments}", "bundle: {output: prebuilt/payments, sam: {}}"),
     "deployverify.yaml:14 functions[1].bundle.sam.template", "required"),
], ids=["no bundle anywhere", "not a layer ARN", "per-function schema"])
def test_application_errors_name_the_function(tmp_path: Path, edit: tuple[str, str], where: str, words: str) -> None:
    text = APPLICATION.replace(*edit, 1)
    (tmp_path / "src" / "common").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    with pytest.raises(TargetError) as raised:
        load_target(write(tmp_path, text), env={})
    message = str(raised.value)
    assert message.startswith(str(tmp_path / where)), message
    assert words in message
